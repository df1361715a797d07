package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/views"
)

func docsCmd(p Provider) *cmds.Command {
	docs := &cmds.Command{
		Helptext: cmds.HelpText{
			Tagline: "A document database on a thread.",
			ShortDescription: `
Collections of JSON documents, each keyed by its "_id" (a string; one is
made up when a document has none). Collections, their JSON Schemas and
their indexes are declared in the thread itself, so every member sees the
same ones. Writes append events and return once the view includes them;
a write that breaks the collection's schema is refused with the validation
error. Of concurrent writes to a document, the one with the later hybrid
logical clock wins, then the greater log ID; every replica agrees.
`,
		},
		Subcommands: map[string]*cmds.Command{
			"collection": {
				Helptext: cmds.HelpText{
					Tagline: "Declare and list collections.",
					ShortDescription: `
A collection, its JSON Schema and its indexes are declared by events in the
thread, so every member, and every later joiner, has the same ones.
`,
				},
				Subcommands: map[string]*cmds.Command{
					"add": docsCollectionAddCmd(p),
					"ls":  docsCollectionLsCmd(p),
				},
			},
			"index": {
				Helptext: cmds.HelpText{
					Tagline: "Manage indexes.",
					ShortDescription: `
An index on a field of a collection lets queries read the documents with a
value, or a range of values, of that field instead of every document.
`,
				},
				Subcommands: map[string]*cmds.Command{
					"add": docsIndexAddCmd(p),
					"rm":  docsIndexRmCmd(p),
				},
			},
			"put":    docsPutCmd(p),
			"get":    docsGetCmd(p),
			"del":    docsDelCmd(p),
			"query":  docsQueryCmd(p),
			"listen": docsListenCmd(p),
			"acl":    docsACLCmd(p),
		},
	}
	docs.Helptext.Subcommands = subcommandList(docs.Subcommands, docsHelpGroups())
	return docs
}

// docsHelpGroups sorts the subcommands of `ipfs threads docs` by purpose
// for its help.
func docsHelpGroups() []helpGroup {
	return []helpGroup{
		{"SCHEMA", []string{"collection", "index"}},
		{"DOCUMENTS", []string{"put", "get", "del", "query", "listen"}},
		{"ACCESS CONTROL", []string{"acl"}},
	}
}

// CollectionOutput describes a collection.
type CollectionOutput struct {
	Name    string
	Schema  json.RawMessage `json:",omitempty"`
	Indexes []string
}

func docsCollectionAddCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Declare a collection.", `
Declares a collection in the thread, with an optional JSON Schema (draft
2020-12 unless the schema says otherwise; external $refs are refused) that
every document must meet. The schema sees the whole document, "_id"
included. Declaring an existing collection again replaces its schema:
documents that break the new one are hidden until they are replaced or the
schema changes again.
`, `
Prints "declared collection <name>"; --enc=json prints {"Name", "Schema"}.

Fails when the thread ID is malformed or the thread unknown, the name has
characters other than letters, digits, '_', '.' and '-', the schema is not
valid JSON Schema or refers outside itself, or this node cannot write to
the thread.

Example:

  $ ipfs threads docs collection add $T people --schema \
      '{"type":"object","required":["name"]}'
  declared collection people
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("name", true, false, "Collection name: letters, digits, '_', '.', '-'."),
		},
		Options: []cmds.Option{
			cmds.StringOption("schema", "JSON Schema of the collection's documents."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			schema, _ := req.Options["schema"].(string)
			c, err := api.Docs().AddCollection(req.Context, tid, req.Arguments[1], options.Collection.Schema([]byte(schema)))
			if err != nil {
				return userError(err)
			}
			return res.Emit(&CollectionOutput{Name: c.Name, Schema: c.Schema})
		},
		Type: CollectionOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *CollectionOutput) error {
				_, err := fmt.Fprintf(w, "declared collection %s\n", out.Name)
				return err
			}),
		},
	}
}

func docsCollectionLsCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("List a thread's collections.", `
Lists the collections declared in the thread, with their indexed fields
and schemas.
`, `
Text output is one line a collection, tab-separated: name, indexed fields
(comma-separated, '-' for none), and "schema" or "no schema". --enc=json
prints one object a collection, {"Name", "Schema", "Indexes"}, with the
schema itself.

Fails when the thread ID is malformed or the thread unknown.

Example:

  $ ipfs threads docs collection ls $T
  notes   -    no schema
  people  age  schema
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			colls, err := api.Docs().Collections(req.Context, tid)
			if err != nil {
				return userError(err)
			}
			for _, c := range colls {
				if err := res.Emit(&CollectionOutput{Name: c.Name, Schema: c.Schema, Indexes: c.Indexes}); err != nil {
					return err
				}
			}
			return nil
		},
		Type: CollectionOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *CollectionOutput) error {
				idx := strings.Join(out.Indexes, ",")
				if idx == "" {
					idx = "-"
				}
				schema := "no schema"
				if len(out.Schema) > 0 {
					schema = "schema"
				}
				_, err := fmt.Fprintf(w, "%s\t%s\t%s\n", out.Name, idx, schema)
				return err
			}),
		},
	}
}

// IndexOutput confirms an index.
type IndexOutput struct {
	Collection string
	Field      string
}

func docsIndexAddCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Index a collection on a field.", `
Indexes a collection's documents on a field path ('age', 'address.city').
The documents already there are indexed at once (every replica does the
same when the declaration reaches it). Queries with $eq, $in or a range on
the field then read the index instead of every document. Only scalar
values (null, booleans, numbers, strings) are indexed. A collection has at
most 16 indexes ('docs index rm' drops one). In an access-controlled
thread, declaring or dropping an index needs the delete role.
`, `
Prints "indexed <collection> on <field>"; --enc=json prints {"Collection",
"Field"}.

Fails when the thread ID is malformed, the thread or the collection is
unknown, the field path is malformed ('a..b'), or this node cannot write
to the thread.

Example:

  $ ipfs threads docs index add $T people address.city
  indexed people on address.city
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("collection", true, false, "Collection."),
			cmds.StringArg("field", true, false, "Field path, dotted for nested fields."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			coll, field := req.Arguments[1], req.Arguments[2]
			if err := api.Docs().AddIndex(req.Context, tid, coll, field); err != nil {
				return userError(err)
			}
			return res.Emit(&IndexOutput{Collection: coll, Field: field})
		},
		Type: IndexOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *IndexOutput) error {
				_, err := fmt.Fprintf(w, "indexed %s on %s\n", out.Collection, out.Field)
				return err
			}),
		},
	}
}

func docsIndexRmCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Drop a collection's index on a field.", `
Drops the index on a field path: every replica deletes its entries when
the event reaches it, and queries on the field read every document again.
The documents are untouched. In an access-controlled thread it needs the
delete role.
`, `
Prints "dropped the index of <collection> on <field>"; --enc=json prints
{"Collection","Field"}.

Fails when the thread ID is malformed, the thread or the collection is
unknown, the collection has no index on the field, or this node cannot
write to the thread (or lacks the delete role).

Example:

  $ ipfs threads docs index rm $T people address.city
  dropped the index of people on address.city
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("collection", true, false, "Collection."),
			cmds.StringArg("field", true, false, "Indexed field path."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			coll, field := req.Arguments[1], req.Arguments[2]
			if err := api.Docs().DropIndex(req.Context, tid, coll, field); err != nil {
				return userError(err)
			}
			return res.Emit(&IndexOutput{Collection: coll, Field: field})
		},
		Type: IndexOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *IndexOutput) error {
				_, err := fmt.Fprintf(w, "dropped the index of %s on %s\n", out.Collection, out.Field)
				return err
			}),
		},
	}
}

// DocIDs are the IDs of written documents.
type DocIDs struct {
	IDs []string
}

func docsPutCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Create or replace documents.", `
Writes a JSON document (the argument or, when it is omitted, the first line
of stdin) to a collection, replacing any document with the same "_id"; a
document without "_id" gets a new one (a UUIDv7). A JSON array writes each
of its documents, in one event when they fit.
`, `
Prints the documents' IDs, one a line; --enc=json prints {"IDs"}.

Fails, and writes nothing, when the thread ID is malformed, the thread or
the collection is unknown, the JSON is malformed or not an object (or an
array of objects), an "_id" is not a string, a document breaks the
collection's schema (with the validation error), or this node cannot write
to the thread.

Example:

  $ ipfs threads docs put $T people '{"_id":"ann","name":"Ann","age":31}'
  ann
  $ ipfs threads docs put $T people '[{"name":"Bob"},{"name":"Cid"}]'
  01a20c40-5425-7966-8ad1-f312e7008149
  01a20c40-5425-7966-8ad1-f312e700814a
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("collection", true, false, "Collection."),
			cmds.StringArg("document", true, false, "JSON document, or an array of documents (stdin when omitted).").EnableStdin(),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			docs, err := splitDocuments([]byte(req.Arguments[2]))
			if err != nil {
				return cmds.Errorf(cmds.ErrClient, "%s", err)
			}
			ids, err := api.Docs().Put(req.Context, tid, req.Arguments[1], docs...)
			if err != nil {
				return userError(err)
			}
			return res.Emit(&DocIDs{IDs: ids})
		},
		Type: DocIDs{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *DocIDs) error {
				for _, id := range out.IDs {
					if _, err := fmt.Fprintln(w, printable([]byte(id))); err != nil {
						return err
					}
				}
				return nil
			}),
		},
	}
}

// splitDocuments reads one JSON document, or an array of them.
func splitDocuments(b []byte) ([]json.RawMessage, error) {
	trimmed := strings.TrimSpace(string(b))
	if !strings.HasPrefix(trimmed, "[") {
		return []json.RawMessage{b}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON array: %v", views.ErrBadDocument, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: an empty array", views.ErrBadDocument)
	}
	return list, nil
}

func docsGetCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Print a document.", `
Prints a document as JSON on one line, with its keys sorted.
`, `
--enc=json prints the same document.

Fails when the thread ID is malformed, the thread or the collection is
unknown, or no visible document has the ID (a document that breaks the
collection's schema is hidden).

Example:

  $ ipfs threads docs get $T people ann
  {"_id":"ann","age":31,"name":"Ann"}
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("collection", true, false, "Collection."),
			cmds.StringArg("id", true, false, "Document ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			doc, err := api.Docs().Get(req.Context, tid, req.Arguments[1], req.Arguments[2])
			if err != nil {
				return userError(err)
			}
			return res.Emit(doc)
		},
		Type: json.RawMessage{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out json.RawMessage) error {
				_, err := fmt.Fprintf(w, "%s\n", out)
				return err
			}),
		},
	}
}

func docsDelCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Delete a document.", `
Deletes a document: appends a tombstone event.
`, `
Prints "deleted <id>"; --enc=json prints {"IDs": [<id>]}.

Fails when the thread ID is malformed, the thread or the collection is
unknown, no document has the ID, or this node cannot write to the thread
(or, in an access-controlled thread, delete the document).

Example:

  $ ipfs threads docs del $T people ann
  deleted ann
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("collection", true, false, "Collection."),
			cmds.StringArg("id", true, false, "Document ID."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			if err := api.Docs().Delete(req.Context, tid, req.Arguments[1], req.Arguments[2]); err != nil {
				return userError(err)
			}
			return res.Emit(&DocIDs{IDs: []string{req.Arguments[2]}})
		},
		Type: DocIDs{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *DocIDs) error {
				_, err := fmt.Fprintf(w, "deleted %s\n", printable([]byte(out.IDs[0])))
				return err
			}),
		},
	}
}

// QueryOutput is a query's result.
type QueryOutput struct {
	Docs []json.RawMessage
	Plan string
}

func docsQueryCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Query a collection.", `
Prints the documents that match a filter (all when it is omitted), one JSON
document a line, in "_id" order unless --sort says otherwise.
`, `
A filter is a JSON object:
  '{"name": "Ann"}'                          equality
  '{"age": {"$gt": 30, "$le": 65}}'          $eq $ne $gt $ge $lt $le $in
  '{"address.city": {"$in": ["Oslo", "Rome"]}}'   nested fields, dotted
  '{"$or": [{"age": 30}, {"name": "Bob"}]}'   $and, $or of filters
Keys of one object must all hold. $gt, $ge, $lt and $le compare numbers
with numbers and strings with strings; $ne also matches documents without
the field. --sort takes a field, '-field' for descending, and may be
repeated. A query reads an index when one fits ($eq, $in or a range on an
indexed field; $or when every branch fits); --explain prints which, after
the documents ("plan: <plan> (<n> documents)").

--enc=json prints {"Docs": [...], "Plan"}.

Fails when the thread ID is malformed, the thread or the collection is
unknown, or the filter, a --sort field, --limit or --skip is malformed.

Example:

  $ ipfs threads docs query $T people '{"age":{"$gt":26}}' --sort=-age \
      --limit=10 --explain
  {"_id":"ann","age":31,"name":"Ann"}
  plan: index age range (1 documents)
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("collection", true, false, "Collection."),
			cmds.StringArg("filter", false, false, "JSON filter."),
		},
		Options: []cmds.Option{
			cmds.StringsOption("sort", "Sort by this field ('-field': descending); repeat for more keys."),
			cmds.IntOption("limit", "At most this many documents (0: all).").WithDefault(0),
			cmds.IntOption("skip", "Skip this many documents first.").WithDefault(0),
			cmds.BoolOption("explain", "Print how the documents were found after them."),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			limit, _ := req.Options["limit"].(int)
			skip, _ := req.Options["skip"].(int)
			sorts, _ := req.Options["sort"].([]string)
			opts := []options.QueryOption{options.Query.Limit(limit), options.Query.Skip(skip), options.Query.Sort(sortKeys(sorts)...)}
			if len(req.Arguments) > 2 && strings.TrimSpace(req.Arguments[2]) != "" {
				opts = append(opts, options.Query.Filter(req.Arguments[2]))
			}
			r, err := api.Docs().Query(req.Context, tid, req.Arguments[1], opts...)
			if err != nil {
				return userError(err)
			}
			return res.Emit(&QueryOutput{Docs: r.Docs, Plan: r.Plan})
		},
		Type: QueryOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *QueryOutput) error {
				for _, doc := range out.Docs {
					if _, err := fmt.Fprintf(w, "%s\n", doc); err != nil {
						return err
					}
				}
				if explain, _ := req.Options["explain"].(bool); explain {
					_, err := fmt.Fprintf(w, "plan: %s (%d documents)\n", out.Plan, len(out.Docs))
					return err
				}
				return nil
			}),
		},
	}
}

// sortSeparator separates sort keys sent in one --sort value. Kubo's Go RPC
// client (commands/client builds on it) sends an option once, so it sends
// several keys in one value; a command line cannot hold the separator, so
// the CLI is unchanged.
const sortSeparator = "\x00"

// sortKeys splits the --sort values into sort keys.
func sortKeys(values []string) []string {
	var keys []string
	for _, v := range values {
		keys = append(keys, strings.Split(v, sortSeparator)...)
	}
	return keys
}

// ChangeOutput is one change of a document, as `docs listen` prints it.
type ChangeOutput struct {
	Seq        uint64
	Type       string
	Collection string
	ID         string
	Doc        json.RawMessage `json:",omitempty"`
	Event      string
}

func changeOutput(c iface.DocChange) *ChangeOutput {
	out := &ChangeOutput{Seq: c.Seq, Type: string(c.Type), Collection: c.Collection, ID: c.ID, Doc: c.Doc}
	if c.Event.Defined() {
		out.Event = c.Event.String()
	}
	return out
}

func docsListenCmd(p Provider) *cmds.Command {
	return &cmds.Command{
		Helptext: helpText("Stream a collection's document changes.", `
Prints every change of the collection's documents (create, update, delete)
recorded on this node after --since, then each new one as it happens, until
interrupted. Changes are numbered in the order this node applied them, and
recorded with the state they describe, so the stream is lossless: to
resume, pass the last number seen as --since. A change from another member
appears when its event arrives.
`, `
Text output is one line a change, tab-separated: number, type (create,
update or delete), document ID, and the document (none for a delete).
--enc=json prints one object a change: {"Seq", "Type", "Collection", "ID",
"Doc", "Event"}, Event being the CID of the event that made it.

Fails at once when the thread ID is malformed or the thread or the
collection unknown; ends with an error when the thread is removed or the
daemon stops.

Example:

  $ ipfs threads docs listen $T people --since 7
  8       update  ann     {"_id":"ann","age":32,"name":"Ann"}
  9       delete  bob
`),
		Arguments: []cmds.Argument{
			cmds.StringArg("thread", true, false, "Thread ID."),
			cmds.StringArg("collection", true, false, "Collection."),
		},
		Options: []cmds.Option{
			cmds.Uint64Option("since", "Start after this change number.").WithDefault(uint64(0)),
		},
		Run: func(req *cmds.Request, res cmds.ResponseEmitter, env cmds.Environment) error {
			api, tid, err := threadArg(p, req, env)
			if err != nil {
				return err
			}
			since, _ := req.Options["since"].(uint64)
			changes, err := api.Docs().Listen(req.Context, tid, req.Arguments[1], options.Changes.Since(since))
			if err != nil {
				return userError(err)
			}
			return emitStream(req, res, changes, changeOutput)
		},
		Type: ChangeOutput{},
		Encoders: cmds.EncoderMap{
			cmds.Text: cmds.MakeTypedEncoder(func(req *cmds.Request, w io.Writer, out *ChangeOutput) error {
				_, err := fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", out.Seq, out.Type, printable([]byte(out.ID)), out.Doc)
				return err
			}),
		},
	}
}
