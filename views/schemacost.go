package views

import (
	"fmt"
	"regexp/syntax"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The schema cost rule. Validation visits a document's values with the
// schemas that apply to them; "allOf", "anyOf", "oneOf", "not", "if" and
// "$ref" apply several schemas to the same value, so a small schema can make
// each value cost exponentially many visits (levels of "allOf" each holding
// two "$ref"s to the next level double the work per level). A schema is
// refused unless, for every depth a document can have, the visits a single
// document value can receive are at most MaxSchemaCost. The rule reads the
// compiled schema alone, so every replica decides the same way, and it is
// applied where a schema is declared (refused locally) and where the
// declaration is applied (skipped on every replica).
//
// The count is an upper bound: at a value, the schemas applied to its
// children are, for objects, one of "properties" or "additionalProperties"
// plus every "patternProperties", "unevaluatedProperties" and
// "propertyNames" schema, and for arrays one of "prefixItems", "items" or
// "additionalItems" plus "contains" and "unevaluatedItems". A visit weighs
// more when it matches regular expressions or compares against long enums.
// Recursion through "$ref" is allowed when it descends into the document
// (a tree of nodes); a cycle that returns to the same value is refused.
const (
	// MaxSchemaSize bounds a schema's JSON, in bytes.
	MaxSchemaSize = 64 << 10
	// MaxSchemaCost bounds the weighted schema visits one document value
	// can cause.
	MaxSchemaCost = 32
	// maxRegexInsts bounds the compiled size of each regular expression
	// of a schema: matching costs the text's length times that size.
	maxRegexInsts = 1000
)

// schemaNode is one compiled schema with its outgoing applications.
type schemaNode struct {
	weight  int64
	inPlace []int // schemas applied to the same value
	propAlt []int // one of these applies to each property value
	propAll []int // each of these may apply to each property value
	itemAlt []int // one of these applies to each array item
	itemAll []int // each of these may apply to each array item
}

// schemaGraph is the graph of a compiled schema's subschemas.
type schemaGraph struct {
	ids   map[*jsonschema.Schema]int
	nodes []schemaNode
}

// checkSchemaCost applies the schema cost rule to a compiled schema.
func checkSchemaCost(root *jsonschema.Schema) error {
	g := &schemaGraph{ids: map[*jsonschema.Schema]int{}}
	if _, err := g.add(root); err != nil {
		return err
	}
	order, err := g.inPlaceOrder()
	if err != nil {
		return err
	}
	// cost[v] is the weighted visits that applying schema v to a value
	// causes at one value k levels below it, for the current k.
	cost := make([]int64, len(g.nodes))
	prev := make([]int64, len(g.nodes))
	for k := 0; k <= MaxDocDepth; k++ {
		for _, v := range order { // in-place children first
			n := &g.nodes[v]
			var c int64
			if k == 0 {
				c = n.weight
			} else {
				c = max(branch(prev, n.propAlt, n.propAll), branch(prev, n.itemAlt, n.itemAll))
			}
			for _, u := range n.inPlace {
				c += cost[u]
			}
			cost[v] = min(c, MaxSchemaCost+1)
		}
		if cost[0] > MaxSchemaCost {
			return fmt.Errorf("%w: validating one value %d levels deep could take more than %d schema visits (nested allOf, anyOf, oneOf or $ref multiply them)", ErrBadSchema, k, MaxSchemaCost)
		}
		if equalCosts(cost, prev) {
			break // a fixed point: deeper levels cost the same
		}
		cost, prev = prev, cost
	}
	return nil
}

// branch is the cost of one child value: the dearest of the alternatives
// plus every schema that applies anyway.
func branch(cost []int64, alt, all []int) int64 {
	var c int64
	for _, u := range alt {
		c = max(c, cost[u])
	}
	for _, u := range all {
		c += cost[u]
	}
	return c
}

func equalCosts(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// add adds a schema and what it applies, and returns its node.
func (g *schemaGraph) add(s *jsonschema.Schema) (int, error) {
	if id, ok := g.ids[s]; ok {
		return id, nil
	}
	id := len(g.nodes)
	g.ids[s] = id
	g.nodes = append(g.nodes, schemaNode{})
	if s.DynamicRef != nil || s.RecursiveRef != nil {
		return 0, fmt.Errorf("%w: $dynamicRef and $recursiveRef are not allowed", ErrBadSchema)
	}
	w, err := visitWeight(s)
	if err != nil {
		return 0, err
	}
	var n schemaNode
	n.weight = w
	var list func(dst *[]int, ss ...*jsonschema.Schema) error
	list = func(dst *[]int, ss ...*jsonschema.Schema) error {
		for _, sub := range ss {
			if sub == nil {
				continue
			}
			u, err := g.add(sub)
			if err != nil {
				return err
			}
			*dst = append(*dst, u)
		}
		return nil
	}
	inPlace := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
	inPlace = append(append(append(inPlace, s.AllOf...), s.AnyOf...), s.OneOf...)
	for _, sub := range s.DependentSchemas {
		inPlace = append(inPlace, sub)
	}
	for _, dep := range s.Dependencies {
		if sub, ok := dep.(*jsonschema.Schema); ok {
			inPlace = append(inPlace, sub)
		}
	}
	propAlt := []*jsonschema.Schema{schemaOf(s.AdditionalProperties)}
	for _, sub := range s.Properties {
		propAlt = append(propAlt, sub)
	}
	propAll := []*jsonschema.Schema{s.UnevaluatedProperties, s.PropertyNames}
	for _, sub := range s.PatternProperties {
		propAll = append(propAll, sub)
	}
	itemAlt := append([]*jsonschema.Schema{s.Items2020, schemaOf(s.AdditionalItems), schemaOf(s.Items)}, s.PrefixItems...)
	if items, ok := s.Items.([]*jsonschema.Schema); ok {
		itemAlt = append(itemAlt, items...)
	}
	itemAll := []*jsonschema.Schema{s.Contains, s.UnevaluatedItems, s.ContentSchema}
	for _, l := range []struct {
		dst *[]int
		ss  []*jsonschema.Schema
	}{{&n.inPlace, inPlace}, {&n.propAlt, propAlt}, {&n.propAll, propAll}, {&n.itemAlt, itemAlt}, {&n.itemAll, itemAll}} {
		if err := list(l.dst, l.ss...); err != nil {
			return 0, err
		}
	}
	g.nodes[id] = n
	return id, nil
}

// schemaOf returns v when it is a schema (keywords that take a schema or a
// boolean, or a schema or a list).
func schemaOf(v any) *jsonschema.Schema {
	s, _ := v.(*jsonschema.Schema)
	return s
}

// visitWeight is what one visit of a schema costs, in plain visits:
// regular expressions cost by their size, enums and consts by theirs.
func visitWeight(s *jsonschema.Schema) (int64, error) {
	w := int64(1)
	regexes := make([]string, 0, 1+len(s.PatternProperties))
	if s.Pattern != nil {
		regexes = append(regexes, s.Pattern.String())
	}
	for re := range s.PatternProperties {
		regexes = append(regexes, re.String())
	}
	for _, re := range regexes {
		insts, err := regexInsts(re)
		if err != nil {
			return 0, err
		}
		w += int64(insts / 32)
	}
	if s.Enum != nil {
		for _, v := range s.Enum.Values {
			w += int64(jsonNodes(v)) / 16
		}
	}
	if s.Const != nil {
		w += int64(jsonNodes(*s.Const)) / 16
	}
	names := len(s.Required)
	for _, req := range s.DependentRequired {
		names += len(req)
	}
	w += int64(names / 16)
	return w, nil
}

// regexInsts returns the size of a regular expression's compiled program.
func regexInsts(re string) (int, error) {
	parsed, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return 0, fmt.Errorf("%w: pattern %q: %v", ErrBadSchema, re, err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return 0, fmt.Errorf("%w: pattern %q: %v", ErrBadSchema, re, err)
	}
	if len(prog.Inst) > maxRegexInsts {
		return 0, fmt.Errorf("%w: pattern %q compiles to %d instructions, at most %d", ErrBadSchema, re, len(prog.Inst), maxRegexInsts)
	}
	return len(prog.Inst), nil
}

// jsonNodes counts the values in a JSON value.
func jsonNodes(v any) int {
	n := 1
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			n += jsonNodes(e)
		}
	case map[string]any:
		for _, e := range t {
			n += jsonNodes(e)
		}
	}
	return n
}

// inPlaceOrder orders the nodes so that every schema comes after those it
// applies in place; it refuses in-place cycles, which would validate the
// same value again and again.
func (g *schemaGraph) inPlaceOrder() ([]int, error) {
	const (
		unseen = iota
		open
		done
	)
	state := make([]int, len(g.nodes))
	order := make([]int, 0, len(g.nodes))
	var visit func(v int) error
	visit = func(v int) error {
		switch state[v] {
		case open:
			return fmt.Errorf("%w: a $ref cycle returns to the same value without descending into the document", ErrBadSchema)
		case done:
			return nil
		}
		state[v] = open
		for _, u := range g.nodes[v].inPlace {
			if err := visit(u); err != nil {
				return err
			}
		}
		state[v] = done
		order = append(order, v)
		return nil
	}
	for v := range g.nodes {
		if err := visit(v); err != nil {
			return nil, err
		}
	}
	return order, nil
}
