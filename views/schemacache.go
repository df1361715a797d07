package views

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Bounds of the compiled-schema cache, shared by every thread of a manager.
const (
	maxCachedSchemas     = 1024
	maxCachedSchemaBytes = 8 << 20 // schema source bytes
)

// schemaCache compiles each distinct schema once. Compiling (and the cost
// rule) is a pure function of the schema bytes; the cache only saves time.
// It is bounded by entries and by bytes, evicting the least recently used,
// and compiles outside its lock: two threads' schemas compile in parallel,
// and callers asking for a schema being compiled wait for that one only.
type schemaCache struct {
	mu      sync.Mutex
	entries map[string]*list.Element // of *schemaEntry
	lru     list.List                // most recently used first
	bytes   int
}

type schemaEntry struct {
	key   string
	ready chan struct{} // closed once s and err are set
	s     *jsonschema.Schema
	err   error
}

func newSchemaCache() *schemaCache { return &schemaCache{entries: map[string]*list.Element{}} }

// compile returns the compiled form of a JSON Schema, or why it is refused.
func (c *schemaCache) compile(schema []byte) (*jsonschema.Schema, error) {
	key := string(schema)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*schemaEntry)
		c.mu.Unlock()
		<-e.ready
		return e.s, e.err
	}
	e := &schemaEntry{key: key, ready: make(chan struct{})}
	c.entries[key] = c.lru.PushFront(e)
	c.bytes += len(key)
	for c.lru.Len() > 1 && (c.lru.Len() > maxCachedSchemas || c.bytes > maxCachedSchemaBytes) {
		old := c.lru.Remove(c.lru.Back()).(*schemaEntry)
		delete(c.entries, old.key)
		c.bytes -= len(old.key)
	}
	c.mu.Unlock()
	e.s, e.err = compileSchema(schema)
	close(e.ready)
	return e.s, e.err
}

// ErrBadSchema is wrapped by errors about schemas that do not compile or
// are refused by the schema rules.
var ErrBadSchema = errors.New("bad JSON Schema")

// refuseLoader keeps schemas from loading anything by URL: a schema comes
// from a thread, and must not make a replica read files or the network.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %s: external references are not allowed", url)
}

// compileSchema compiles a schema and applies the schema rules: a size
// bound and the cost rule (see schemacost.go).
func compileSchema(schema []byte) (*jsonschema.Schema, error) {
	if len(schema) > MaxSchemaSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadSchema, len(schema), MaxSchemaSize)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %v", ErrBadSchema, err)
	}
	comp := jsonschema.NewCompiler()
	comp.UseLoader(refuseLoader{})
	const loc = "thread:///schema.json"
	if err := comp.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	s, err := comp.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	if err := checkSchemaCost(s); err != nil {
		return nil, err
	}
	return s, nil
}

// ErrSchema is wrapped by errors about documents that break their
// collection's schema.
var ErrSchema = errors.New("document does not match the collection's schema")

// validate checks a parsed document against a collection's schema; a
// collection without a schema accepts every document.
func (c *schemaCache) validate(coll *CollEntry, doc any) error {
	if len(coll.Schema) == 0 {
		return nil
	}
	s, err := c.compile(coll.Schema)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSchema, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%w: %v", ErrSchema, err)
	}
	return nil
}
