package mysite

import (
	"context"
	"errors"
)

// Store keeps users. Every method must return promptly once ctx is done
// (the server also stops waiting for it at that point, see Server).
//
// Errors: ErrNotFound and ErrExists are answers, not failures. Anything that
// means "the database could not serve this now" should match ErrUnavailable
// (errors.Is); context errors are treated the same way. Any other error is a
// database error (HTTP 500).
type Store interface {
	// Get returns the user with this id, or ErrNotFound.
	Get(ctx context.Context, id string) (User, error)
	// Create stores a new user with version 1 and returns what was stored,
	// or ErrExists if the id is taken.
	Create(ctx context.Context, u User) (User, error)
	// Put creates the user (version 1) or replaces it, incrementing its
	// version atomically, and returns what was stored.
	Put(ctx context.Context, u User) (User, error)
	// Ready returns nil when the store can serve requests right now (for
	// PostgreSQL: schema created and the database answers a ping).
	Ready(ctx context.Context) error
}

var (
	// ErrNotFound: no user with that id.
	ErrNotFound = errors.New("user not found")
	// ErrExists: create of an id that is already taken.
	ErrExists = errors.New("user already exists")
	// ErrUnavailable marks errors meaning the database cannot serve now
	// (down, unreachable, too slow, schema not created yet).
	ErrUnavailable = errors.New("database unavailable")
)

// UnavailableError is a database failure that makes the request fail with
// 503. NotApplied reports that the failure certainly happened before the
// statement reached the database, so a write was not applied; when false, a
// write may or may not have been applied.
type UnavailableError struct {
	Err        error
	NotApplied bool
}

func (e *UnavailableError) Error() string        { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error        { return e.Err }
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unavailable wraps err as an UnavailableError (nil stays nil).
func Unavailable(err error, notApplied bool) error {
	if err == nil {
		return nil
	}
	return &UnavailableError{Err: err, NotApplied: notApplied}
}

// writeNotApplied reports whether err guarantees that a write did not happen.
func writeNotApplied(err error) bool {
	var ue *UnavailableError
	return errors.As(err, &ue) && ue.NotApplied
}

// TransactionCounter is implemented by a Store that can read its database's
// own count of transactions (committed and rolled back, by every client of
// that database, since its statistics were last reset): the database's load
// as the database itself counts it. Optional: GET /cache reports it when the
// cache's database store has it.
type TransactionCounter interface {
	Transactions(ctx context.Context) (int64, error)
}
