package views

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// JSON values in documents are what encoding/json decodes into `any` with
// UseNumber: nil, bool, json.Number, string, []any and map[string]any.

// parseJSON decodes exactly one JSON value, keeping numbers as written.
func parseJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed JSON: more than one value")
	}
	if err := checkNumbers(v); err != nil {
		return nil, err
	}
	return v, nil
}

// parseDocument parses a document being put: parseJSON within the limits
// of documents, at most MaxDocDepth levels of nesting and numbers of at most
// maxNumberLen characters. (Stored documents are read with parseJSON.)
func parseDocument(b []byte) (any, error) {
	v, err := parseJSON(b)
	if err != nil {
		return nil, err
	}
	if err := checkShape(v, 1); err != nil {
		return nil, err
	}
	return v, nil
}

// ErrDocShape is wrapped by errors about documents nested too deep or with
// numbers too long.
var ErrDocShape = errors.New("document outside the limits")

func checkShape(v any, depth int) error {
	if depth > MaxDocDepth {
		return fmt.Errorf("%w: nested more than %d levels", ErrDocShape, MaxDocDepth)
	}
	switch t := v.(type) {
	case json.Number:
		if len(t) > maxNumberLen {
			return fmt.Errorf("%w: a number of %d characters, at most %d", ErrDocShape, len(t), maxNumberLen)
		}
	case []any:
		for _, e := range t {
			if err := checkShape(e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, e := range t {
			if err := checkShape(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNumbers refuses numbers that are not finite float64s, so every
// replica compares them the same way.
func checkNumbers(v any) error {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("malformed JSON: number %s out of range", t)
		}
	case []any:
		for _, e := range t {
			if err := checkNumbers(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, e := range t {
			if err := checkNumbers(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// canonicalJSON encodes a value with object keys sorted and no spaces, so
// equal documents have equal bytes.
func canonicalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// lookup returns the value at a dotted path ("a.b.c") through nested
// objects; ok is false when some part is missing or not an object.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		obj, isObj := cur.(map[string]any)
		if !isObj {
			return nil, false
		}
		v, found := obj[part]
		if !found {
			return nil, false
		}
		cur = v
	}
	return cur, true
}

// ErrBadField is wrapped by errors about malformed field paths.
var ErrBadField = errors.New("bad field path")

// validPath checks a dotted field path.
func validPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: empty", ErrBadField)
	}
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			return fmt.Errorf("%w: %q has an empty part", ErrBadField, path)
		}
	}
	return nil
}

// Type ranks of JSON values, in sort order. A missing field sorts first.
const (
	rankMissing = iota
	rankNull
	rankBool
	rankNumber
	rankString
	rankArray
	rankObject
)

func rank(v any, present bool) int {
	if !present {
		return rankMissing
	}
	switch v.(type) {
	case nil:
		return rankNull
	case bool:
		return rankBool
	case json.Number:
		return rankNumber
	case string:
		return rankString
	case []any:
		return rankArray
	default:
		return rankObject
	}
}

func number(v any) float64 {
	f, _ := v.(json.Number).Float64()
	return f
}

// compareValues is the total order used for sorting: by type rank, then by
// value within a type (false < true, numbers numerically, strings by bytes,
// arrays and objects by their canonical encoding).
func compareValues(a any, aok bool, b any, bok bool) int {
	ra, rb := rank(a, aok), rank(b, bok)
	if ra != rb {
		return cmpInt(ra, rb)
	}
	switch ra {
	case rankMissing, rankNull:
		return 0
	case rankBool:
		x, y := a.(bool), b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case rankNumber:
		x, y := number(a), number(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case rankString:
		return strings.Compare(a.(string), b.(string))
	}
	ca, _ := canonicalJSON(a)
	cb, _ := canonicalJSON(b)
	return bytes.Compare(ca, cb)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// equalValues is JSON equality (numbers by value).
func equalValues(a, b any) bool {
	return compareValues(a, true, b, true) == 0
}

// comparable reports whether ordered comparisons (gt, lt, ...) between two
// values make sense: both numbers or both strings.
func orderable(a, b any) bool {
	ra, rb := rank(a, true), rank(b, true)
	return ra == rb && (ra == rankNumber || ra == rankString)
}

// scalar reports whether a value can be indexed.
func scalar(v any) bool {
	switch v.(type) {
	case nil, bool, json.Number, string:
		return true
	}
	return false
}

// maxIndexedString is how many bytes of a string an index entry holds, so
// that index keys stay small enough for a snapshot page.
const maxIndexedString = 512

// truncatedMark ends the index encoding of a string longer than
// maxIndexedString; it sorts after every hex digit.
const truncatedMark = "~"

// indexValue encodes a scalar so that the byte order of encodings is the
// order of compareValues, in hex so it is a safe datastore key segment.
func indexValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "0"
	case bool:
		if t {
			return "2"
		}
		return "1"
	case json.Number:
		bits := math.Float64bits(number(t))
		if number(t) == 0 {
			bits = 0 // -0 and 0 are equal
		}
		if bits&(1<<63) != 0 {
			bits = ^bits
		} else {
			bits |= 1 << 63
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], bits)
		return "3" + hex.EncodeToString(b[:])
	case string:
		if len(t) > maxIndexedString {
			// Every longer string with the same start shares this
			// encoding, which sorts after the start alone and before
			// any greater start; queries check the documents found.
			return "4" + hex.EncodeToString([]byte(t[:maxIndexedString])) + truncatedMark
		}
		return "4" + hex.EncodeToString([]byte(t))
	}
	panic(fmt.Sprintf("indexValue of non-scalar %T", v))
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
