package commands

import (
	"errors"
	"io"
	"net/http"

	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// emitStream emits a listen stream's items, each as out makes it, until the
// request ends (the client went away: not an error) or the node ends the
// stream with an error. Over HTTP the response starts at once, as Kubo's
// pubsub sub does, so that a client knows the stream is open before the
// first item.
func emitStream[T, O any](req *cmds.Request, res cmds.ResponseEmitter, s iface.Stream[T], out func(T) O) error {
	defer s.Close()
	if f, ok := res.(http.Flusher); ok {
		f.Flush()
	}
	for {
		v, err := s.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || req.Context.Err() != nil {
				return nil
			}
			return userError(err)
		}
		if err := res.Emit(out(v)); err != nil {
			return err
		}
	}
}
