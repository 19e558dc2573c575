package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// template is a parsed message/remedy/subject template: literal text with
// ${name} (a capture) and ${name:-fallback} (fallback text when the capture is
// empty) references. It is written here rather than with text/template because
// rule authors write one-line strings in YAML and the shell-like syntax reads
// naturally there.
type template struct {
	parts []templatePart
}

type templatePart struct {
	text     string // literal text, or the fallback for a reference
	name     string // capture name; "" for literal text
	fallback bool
}

func parseTemplate(s string) (template, error) {
	var t template
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			if s != "" {
				t.parts = append(t.parts, templatePart{text: s})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{text: s[:i]})
		}
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return template{}, fmt.Errorf("unterminated ${ at %q", s[i:])
		}
		ref := rest[:j]
		part := templatePart{name: ref}
		if name, fb, ok := strings.Cut(ref, ":-"); ok {
			part = templatePart{name: name, text: fb, fallback: true}
		}
		if !validCaptureName(part.name) {
			return template{}, fmt.Errorf("bad reference ${%s}: want ${name} or ${name:-fallback} with a capture name", ref)
		}
		t.parts = append(t.parts, part)
		s = rest[j+1:]
	}
}

func validCaptureName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// names lists the capture names the template references.
func (t template) names() []string {
	var out []string
	for _, p := range t.parts {
		if p.name != "" {
			out = append(out, p.name)
		}
	}
	return out
}

func (t template) empty() bool { return len(t.parts) == 0 }

// lineRef is the built-in reference to the matched log text.
const lineRef = "line"

// expand fills in the captures (and ${line}, the matched text, unless a
// capture has that name). The result is one line: control characters from
// captured log text become spaces, and it is capped at maxMessageLen.
func (t template) expand(captures map[string]string, line string) string {
	var b strings.Builder
	for _, p := range t.parts {
		v, ok := captures[p.name]
		if !ok && p.name == lineRef {
			v = line
		}
		switch {
		case p.name == "":
			b.WriteString(p.text)
		case v != "":
			b.WriteString(v)
		case p.fallback:
			b.WriteString(p.text)
		}
	}
	return oneLine(b.String(), maxMessageLen)
}

const (
	maxMessageLen  = 1024
	maxEvidenceLen = 512
)

// oneLine replaces control characters with spaces and truncates s to at most
// max bytes without splitting a UTF-8 sequence.
func oneLine(s string, max int) string {
	s = truncate(s, max)
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// truncate cuts s to at most max bytes at a rune boundary, marking the cut
// with "…" (counted in max).
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
