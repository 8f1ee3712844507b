package workload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Service is how the workload reads and writes one key of a system under
// test that is not mysite: a user's own HTTP API, through a small adapter
// (the public scalelab package's KeyValue is one). The workload calls it
// for every read and write of its schedule and stamps each call on its
// clock, as it does mysite's.
//
// A call gets a context whose deadline is the workload's Timeout and must
// say what the system answered, with the recording client's rules
// (SendHTTP applies them to one HTTP exchange):
//   - OK: a write was acknowledged; a read returned Value ("" when the key
//     holds nothing).
//   - Failed: the operation certainly had no effect (refused, or an answer
//     that says so).
//   - Unknown: a write that may have taken effect (a timeout after sending,
//     a 5xx that does not say it was not applied). Never Failed for such a
//     write: the checkers allow an unknown write to take effect later, a
//     failed one never.
type Service interface {
	Write(ctx context.Context, key, value string) Reply
	Read(ctx context.Context, key string) Reply
}

// Reply is what one call of a Service learnt.
type Reply struct {
	Outcome history.Outcome
	Status  int    // the HTTP status, 0 when none came
	Err     string // a short reason; "" exactly when Outcome is OK
	Value   string // reads: the value read, "" for a key that holds nothing
}

// clientKey is the context key of the logical client an op is for.
type clientKey struct{}

// WithClient is ctx carrying the logical client an op is for: a Service
// that tells its clients apart (an API key each, stage 12) reads it with
// ClientOf.
func WithClient(ctx context.Context, client int) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientOf is the logical client the call is for; false outside the
// workload's schedule (the read-back after the run, a live view's probes).
func ClientOf(ctx context.Context) (int, bool) {
	c, ok := ctx.Value(clientKey{}).(int)
	return c, ok
}

// NewService makes the Service for a run from the system's entry URL
// ("http://127.0.0.1:PORT") and an HTTP client whose pool is sized for
// the workload (its Timeout bounds every request).
type NewService func(baseURL string, client *http.Client) (Service, error)

func (r Reply) result() result {
	return result{outcome: r.Outcome, status: r.Status, err: r.Err, value: r.Value}
}

// validReply keeps a Service's answer inside the history's rules: an
// outcome it does not know, an OK read of a write or a Failed op without
// a reason, are made explicit rather than recorded as they came.
func validReply(kind history.Kind, r Reply) Reply {
	switch r.Outcome {
	case history.OK:
		r.Err = ""
		if kind == history.Write {
			r.Value = ""
		}
	case history.Failed, history.Unknown:
		if r.Err == "" {
			r.Err = "service said " + string(r.Outcome)
		}
		r.Value = ""
		if kind == history.Read && r.Outcome == history.Unknown {
			// A read has no effect: without a value it simply failed.
			r.Outcome = history.Failed
		}
	default:
		r = Reply{Outcome: history.Failed, Status: r.Status, Err: "service gave no outcome (" + string(r.Outcome) + ")"}
		if kind == history.Write {
			r.Outcome = history.Unknown
		}
	}
	return r
}

// call performs one op through svc, bounded by timeout. onSend, when not
// nil, is called just before.
func call(parent context.Context, svc Service, kind history.Kind, key, value string, timeout time.Duration, onSend func()) result {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	if onSend != nil {
		onSend()
	}
	var r Reply
	if kind == history.Write {
		r = svc.Write(ctx, key, value)
	} else {
		r = svc.Read(ctx, key)
	}
	if errors.Is(context.Cause(parent), errAbandoned) && r.Outcome != history.OK {
		r.Err = errAbandoned.Error()
	}
	return validReply(kind, r).result()
}

// SendHTTP sends req (already bound to its context) with client and
// classifies the exchange for an op of kind (history.Read or
// history.Write), as the recording client classifies mysite's:
//   - no answer, and nothing can have reached the server (dial refused,
//     no connection handed the request): Failed;
//   - no answer after it may have been sent (timeout, reset, EOF): a write
//     Unknown, a read Failed;
//   - 2xx: OK (the body is returned for a read's value);
//   - 404 on a read: OK, the key holds nothing (body not returned);
//   - 5xx on a write: Unknown, unless notApplied says that answer means the
//     write did not happen (a service that knows, as mysite's
//     Mysite-Write-Outcome: not-applied);
//   - any other status: Failed.
//
// body is the answer's body (at most 1 MiB), for the adapter to decode.
func SendHTTP(client *http.Client, req *http.Request, kind history.Kind, notApplied func(*http.Response) bool) (reply Reply, body []byte) {
	var mayHaveSent atomic.Bool
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { mayHaveSent.Store(true) },
	})
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		r := classifyTransportError(kind, err, ctx, mayHaveSent.Load())
		return Reply{Outcome: r.outcome, Err: r.err}, nil
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	status := resp.StatusCode
	switch {
	case status >= 200 && status <= 299:
		if readErr != nil && kind == history.Read {
			return Reply{Outcome: history.Failed, Status: status, Err: shorten("reading body: " + describeError(readErr, ctx))}, nil
		}
		return Reply{Outcome: history.OK, Status: status}, body
	case status == http.StatusNotFound && kind == history.Read:
		return Reply{Outcome: history.OK, Status: status}, nil
	case status >= 500 && kind == history.Write:
		r := Reply{Outcome: history.Unknown, Status: status, Err: statusError(status, body)}
		if notApplied != nil && notApplied(resp) {
			r.Outcome = history.Failed
		}
		return r, body
	default:
		return Reply{Outcome: history.Failed, Status: status, Err: statusError(status, body)}, body
	}
}
