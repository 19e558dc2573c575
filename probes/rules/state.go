package rules

import (
	"time"

	"github.com/nodetriage/nodetriage/probes"
)

// The little state rules keep. Everything here is bounded and guarded by
// Engine.mu, which only lines that matched a rule take.

// occurrences is a ring of the last MinOccurrences match times of one rule
// for one subject.
type occurrences struct {
	times    []time.Time
	next     int
	filled   int
	lastSeen time.Time
}

// occur records a match at t and reports whether MinOccurrences matches now
// fall within the rule's window, with the count in the window.
func (e *Engine) occur(c *compiledRule, subject string, t time.Time) (int, bool) {
	subjects := e.occ[c]
	if subjects == nil {
		subjects = map[string]*occurrences{}
		e.occ[c] = subjects
	}
	o := subjects[subject]
	if o == nil {
		if len(subjects) >= e.maxSubjects {
			evictOldest(subjects)
		}
		o = &occurrences{times: make([]time.Time, c.MinOccurrences)}
		subjects[subject] = o
	}
	o.times[o.next] = t
	o.next = (o.next + 1) % len(o.times)
	o.filled = min(o.filled+1, len(o.times))
	o.lastSeen = t
	count := 0
	for _, ts := range o.times[:o.filled] {
		if !ts.After(t) && t.Sub(ts) <= c.Window.Duration {
			count++
		}
	}
	return count, count >= c.MinOccurrences
}

func evictOldest(subjects map[string]*occurrences) {
	var oldest string
	var at time.Time
	first := true
	for s, o := range subjects {
		if first || o.lastSeen.Before(at) {
			oldest, at, first = s, o.lastSeen, false
		}
	}
	delete(subjects, oldest)
}

// contextRing remembers a context rule's latest lines.
type contextRing struct {
	entries []contextEntry
	next    int
}

type contextEntry struct {
	used     bool
	source   probes.Source
	key      string
	at       time.Time
	captures map[string]string
}

func (e *Engine) remember(c *compiledRule, source probes.Source, at time.Time, captures map[string]string) {
	ring := e.context[c]
	if ring == nil {
		ring = &contextRing{entries: make([]contextEntry, e.contextEntries)}
		e.context[c] = ring
	}
	ring.entries[ring.next] = contextEntry{
		used:     true,
		source:   source,
		key:      captures[c.ContextKey],
		at:       at,
		captures: captures,
	}
	ring.next = (ring.next + 1) % len(ring.entries)
}

// recallContext merges into captures the newest remembered line of rc's
// context rule that fits (same source, same key, within the time bound).
// Captures the rule already has are kept.
func (e *Engine) recallContext(rc compiledRecall, source probes.Source, at time.Time, captures map[string]string) bool {
	ring := e.context[rc.from]
	if ring == nil {
		return false
	}
	key := ""
	if rc.Key != "" {
		key = captures[rc.Key]
	}
	n := len(ring.entries)
	for i := 1; i <= n; i++ {
		ent := &ring.entries[(ring.next-i+n)%n]
		if !ent.used || ent.source != source {
			continue
		}
		if rc.Key != "" && ent.key != key {
			continue
		}
		if d := at.Sub(ent.at); d > rc.within || d < -rc.within {
			continue
		}
		for k, v := range ent.captures {
			if captures[k] == "" {
				captures[k] = v
			}
		}
		return true
	}
	return false
}
