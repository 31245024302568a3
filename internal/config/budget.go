package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes a document may expand to, each use of an alias
// or a merge key (<<) counting its target again. A real configuration has a
// few hundred; ten lines of nested merges can expand to billions, which
// yaml.v3's decoder and the walker would both follow. Its own alias check
// does not see through merge keys.
const maxNodes = 500_000

// maxKeys bounds the keys of one mapping: yaml.v3 looks for repeated keys
// by comparing each key with every other, so a 1 MiB file of one wide
// mapping takes it half a minute. Omni has nowhere near this many user
// attributes, the widest mapping here.
const maxKeys = 1000

// checkEvery is how many nodes the walker visits between looks at its
// context: often enough to stop promptly, rarely enough to cost nothing.
const checkEvery = 1024

// checkExpansion refuses a document that expands past maxNodes, has a
// mapping wider than maxKeys, or has an anchor holding an alias to itself, before anything follows its aliases. It
// counts each node once, so the counting itself stays linear.
func checkExpansion(doc *yaml.Node) error {
	s := sizer{size: make(map[*yaml.Node]int), busy: make(map[*yaml.Node]bool)}
	_, err := s.expand(doc)
	return err
}

type sizer struct {
	// size is the expanded size of each node counted so far.
	size map[*yaml.Node]int
	// busy holds the nodes being counted, to find an anchor inside itself.
	busy map[*yaml.Node]bool
}

func (s *sizer) expand(n *yaml.Node) (int, error) {
	if v, ok := s.size[n]; ok {
		return v, nil
	}
	if s.busy[n] {
		return 0, &SyntaxError{Line: n.Line, Msg: "an anchor holds an alias to itself"}
	}
	if n.Kind == yaml.MappingNode && len(n.Content)/2 > maxKeys {
		return 0, &SyntaxError{Line: n.Line, Msg: fmt.Sprintf("a mapping of more than %d keys", maxKeys)}
	}
	s.busy[n] = true
	total := 1
	children := n.Content
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		children = []*yaml.Node{n.Alias}
	}
	for _, c := range children {
		v, err := s.expand(c)
		if err != nil {
			return 0, err
		}
		// Checked as it grows, so the total cannot overflow and the line
		// named is that of the innermost node past the bound.
		if total += v; total > maxNodes {
			return 0, &SyntaxError{Line: n.Line, Msg: fmt.Sprintf("aliases and merge keys (<<) here expand to more than %d values; write the values out instead", maxNodes)}
		}
	}
	delete(s.busy, n)
	s.size[n] = total
	return total, nil
}
