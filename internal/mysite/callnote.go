package mysite

import (
	"context"
	"sync/atomic"
)

// callNote carries one word from a store call back to its handler,
// through the request's context: the Store interface returns users, not
// how it got them (the cache's answer, the shard a call was routed to).
// Atomic: the handler may give up on a store call that is still running
// (callWithin). K names what is noted, so that one request can carry
// several notes.
type callNote[K any] struct{ v atomic.Pointer[string] }

type callNoteKey[K any] struct{}

// withNote makes ctx carry n: note[K] on it then sets n.
func withNote[K any](ctx context.Context, n *callNote[K]) context.Context {
	return context.WithValue(ctx, callNoteKey[K]{}, n)
}

// note sets the K note ctx carries, if it carries one.
func note[K any](ctx context.Context, word *string) {
	if n, ok := ctx.Value(callNoteKey[K]{}).(*callNote[K]); ok {
		n.v.Store(word)
	}
}

// String is the word noted, "" when none was.
func (n *callNote[K]) String() string {
	if p := n.v.Load(); p != nil {
		return *p
	}
	return ""
}
