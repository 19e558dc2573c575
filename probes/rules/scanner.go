package rules

// scanner finds, in one pass over a line, which of a fixed set of literals
// occur in it. It is a hand-written Aho–Corasick automaton compiled to a dense
// DFA over byte classes, reading the line ASCII-case-folded; literal positions
// that must match exactly are verified on a hit.
//
// Why hand-written and why this shape: the default packs put 7–35 literals on
// a source. BenchmarkPrefilterStrategies measures, on 100,000 lines of the
// benchmark mix with -cpu 1 on the shared 2-core test machine, about
// 2.4 M lines/s for one DFA pass against 0.6 M lines/s for a strings.Index
// (or folding search) per literal, and 0.04 M lines/s with no prefilter at
// all: the DFA's cost does not grow with the number of rules. None of the
// allowed dependencies offers a multi-literal matcher, and the automaton is
// about 150 lines.
type scanner struct {
	// class maps a byte to its column in next, folding A–Z onto a–z; bytes
	// that occur in no literal share class 0.
	class   [256]uint8
	classes int
	// next is the DFA with premultiplied state ids: a state is the offset of
	// its row (state*classes), so a step is next[st+class]. States are
	// renumbered so that every state whose row starts at or above firstOut
	// ends at least one literal.
	next     []int32
	firstOut int32
	// out[(state-firstOut)/classes] lists the literals ending in that state
	// (including those reached through dictionary suffix links).
	out [][]int32
	// lits are the literals; hits maps a literal to the matchers it admits.
	lits []literal
	hits [][]int32
}

// newScanner builds the automaton for lits; hits[i] are the matcher ids that
// become candidates when lits[i] is found.
func newScanner(lits []literal, hits [][]int32) *scanner {
	s := &scanner{lits: lits, hits: hits}

	// Byte classes over the folded alphabet.
	var used [256]bool
	for _, l := range lits {
		for i := 0; i < len(l.text); i++ {
			used[foldByte(l.text[i])] = true
		}
	}
	var foldedClass [256]uint8
	n := 1
	for b := 0; b < 256; b++ {
		if used[b] {
			foldedClass[b] = uint8(n)
			n++
		}
	}
	for b := 0; b < 256; b++ {
		s.class[b] = foldedClass[foldByte(byte(b))]
	}
	s.classes = n

	// Trie.
	type node struct {
		child map[uint8]int32
		fail  int32
		outs  []int32
	}
	nodes := []node{{child: map[uint8]int32{}}}
	for id, l := range lits {
		cur := int32(0)
		for i := 0; i < len(l.text); i++ {
			c := s.class[l.text[i]]
			nxt, ok := nodes[cur].child[c]
			if !ok {
				nxt = int32(len(nodes))
				nodes = append(nodes, node{child: map[uint8]int32{}})
				nodes[cur].child[c] = nxt
			}
			cur = nxt
		}
		nodes[cur].outs = append(nodes[cur].outs, int32(id))
	}

	// Failure links and the full transition table, breadth first.
	trans := make([]int32, len(nodes)*n)
	var queue []int32
	for c := 0; c < n; c++ {
		if nxt, ok := nodes[0].child[uint8(c)]; ok {
			trans[c] = nxt
			nodes[nxt].fail = 0
			queue = append(queue, nxt)
		}
	}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		f := nodes[st].fail
		nodes[st].outs = append(nodes[st].outs, nodes[f].outs...)
		for c := 0; c < n; c++ {
			if nxt, ok := nodes[st].child[uint8(c)]; ok {
				nodes[nxt].fail = trans[int(f)*n+c]
				trans[int(st)*n+c] = nxt
				queue = append(queue, nxt)
			} else {
				trans[int(st)*n+c] = trans[int(f)*n+c]
			}
		}
	}

	// Renumber: states without output first, so the scan loop tests one
	// comparison per byte.
	order := make([]int32, 0, len(nodes))
	for i := range nodes {
		if len(nodes[i].outs) == 0 {
			order = append(order, int32(i))
		}
	}
	s.firstOut = int32(len(order))
	for i := range nodes {
		if len(nodes[i].outs) > 0 {
			order = append(order, int32(i))
		}
	}
	newID := make([]int32, len(nodes))
	for to, from := range order {
		newID[from] = int32(to)
	}
	s.next = make([]int32, len(nodes)*n)
	for from := range nodes {
		for c := 0; c < n; c++ {
			s.next[int(newID[from])*n+c] = newID[trans[from*n+c]] * int32(n)
		}
	}
	firstOutID := s.firstOut
	s.out = make([][]int32, len(nodes)-int(firstOutID))
	for _, from := range order[firstOutID:] {
		s.out[newID[from]-firstOutID] = nodes[from].outs
	}
	s.firstOut = firstOutID * int32(n)
	// The root (node 0) keeps id 0: callers never add an empty literal, so
	// it has no output and is the first state placed above.
	return s
}

// scan marks in cand every matcher admitted by a literal found in text.
func (s *scanner) scan(text string, cand []uint64) {
	if len(s.lits) == 0 {
		return
	}
	next, class, firstOut := s.next, &s.class, s.firstOut
	st := int32(0)
	for i := 0; i < len(text); i++ {
		st = next[st+int32(class[text[i]])]
		if st >= firstOut {
			s.hit(text, i, st, cand)
		}
	}
}

func (s *scanner) hit(text string, end int, st int32, cand []uint64) {
	for _, id := range s.out[int(st-s.firstOut)/s.classes] {
		l := &s.lits[id]
		if !l.verify(text, end+1-len(l.text)) {
			continue
		}
		for _, m := range s.hits[id] {
			cand[m>>6] |= 1 << (uint(m) & 63)
		}
	}
}

// verify checks the case-sensitive positions of l at text[start:].
func (l *literal) verify(text string, start int) bool {
	for i := 0; i < len(l.text); i++ {
		if l.fold[i] == '0' && text[start+i] != l.text[i] {
			return false
		}
	}
	return true
}

func foldByte(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
