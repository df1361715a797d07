// Command example uses a running daemon's threads: it creates a thread,
// appends an event, puts and queries a document, and prints the events.
package main

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/kubo-threads/kubo-threads/commands/client"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
)

func main() {
	ctx := context.Background()
	api, err := client.NewLocalApi() // the daemon of $IPFS_PATH (~/.ipfs)
	check(err)
	th, err := api.Threads().Create(ctx)
	check(err)
	events, err := api.Events().Listen(ctx, th.ID)
	check(err)
	defer events.Close()

	_, err = api.Events().Add(ctx, th.ID, strings.NewReader("hello"))
	check(err)
	_, err = api.Docs().AddCollection(ctx, th.ID, "notes")
	check(err)
	_, err = api.Docs().Put(ctx, th.ID, "notes", []byte(`{"_id":"n1","text":"hi"}`))
	check(err)
	res, err := api.Docs().Query(ctx, th.ID, "notes", options.Query.Filter(`{"text":"hi"}`))
	check(err)
	fmt.Printf("query: %s\n", res.Docs)

	for range 3 { // the event, the collection, the document
		ev, err := events.Next()
		check(err)
		fmt.Printf("event %d: %d bytes\n", ev.Seq, len(ev.Body))
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
