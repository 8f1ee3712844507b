package mysite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// loginInput is the body of POST /login.
type loginInput struct {
	User *string `json:"user"`
}

// login: POST /login {"user": "<id>"} starts a session. The user is not
// looked up in the database: the lab has no passwords, and login must depend
// on the session store alone.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	user, err := decodeLogin(w, r)
	if err != nil {
		writeClientError(w, err)
		return
	}
	id := newSessionID()
	_, err = s.callSessions(r, sessionLogin, func(ctx context.Context) (string, error) {
		return "", s.sessions.Put(ctx, id, user, s.sessionTTL)
	})
	if err != nil {
		s.writeSessionError(w, r, err, false)
		return
	}
	s.metrics.logins.Inc()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true})
	writeJSON(w, http.StatusOK, map[string]string{"user": user, "session": id})
}

// me: GET /me says who is logged in, and which server answered.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	user, ok := s.authenticate(w, r, true, false)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": user, "server": s.name})
}

// logout: POST /logout deletes the cookie's session (if any) and clears the
// cookie. It is idempotent: without a session it still answers 200.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil && validSessionID(c.Value) {
		_, err := s.callSessions(r, sessionDelete, func(ctx context.Context) (string, error) {
			return "", s.sessions.Delete(ctx, c.Value)
		})
		if err != nil {
			s.writeSessionError(w, r, err, false)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

// withSession checks the session of requests that carry a session cookie
// before h runs: 401 when it names no session (the user was logged out),
// 503 when the session store cannot answer. Requests without the cookie go
// through anonymously, as before sessions existed.
func (s *Server) withSession(write bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.authenticate(w, r, false, write); ok {
			h(w, r)
		}
	}
}

// authenticate returns the request's user ("" when anonymous and allowed),
// or answers the request itself (401, 503) and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, required, write bool) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		if !required {
			return "", true
		}
		writeError(w, http.StatusUnauthorized, "not logged in")
		return "", false
	}
	if !validSessionID(c.Value) {
		s.metrics.sessionsUnknown.Inc()
		writeError(w, http.StatusUnauthorized, "not logged in")
		return "", false
	}
	user, err := s.callSessions(r, sessionGet, func(ctx context.Context) (string, error) {
		return s.sessions.Get(ctx, c.Value)
	})
	switch {
	case err == nil:
		return user, true
	case errors.Is(err, ErrNoSession):
		s.metrics.sessionsUnknown.Inc()
		writeError(w, http.StatusUnauthorized, "not logged in")
	default:
		s.writeSessionError(w, r, err, write)
	}
	return "", false
}

// callSessions runs one session store call under the session timeout and
// reports its result to the session store monitor (unless the client went
// away, which says nothing about the store).
func (s *Server) callSessions(r *http.Request, op sessionCall, call func(context.Context) (string, error)) (string, error) {
	isAnswer := func(err error) bool { return errors.Is(err, ErrNoSession) }
	v, err := callWithin(s, r, s.sessionTimeout, isAnswer, call)
	if r.Context().Err() == nil {
		if err != nil && isAnswer(err) {
			s.metrics.Sessions.Observe(string(op), nil)
		} else {
			s.metrics.Sessions.Observe(string(op), err)
		}
	}
	return v, err
}

// writeSessionError answers 503 for a session store failure. Nothing was
// written to the database, so a write is marked not applied.
func (s *Server) writeSessionError(w http.ResponseWriter, r *http.Request, err error, write bool) {
	if !errors.Is(err, ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		s.log.Error("session store error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Retry-After", "1")
	if write {
		w.Header().Set(WriteOutcomeHeader, "not-applied")
	}
	writeError(w, http.StatusServiceUnavailable, "session store unavailable: "+s.describeStoreError(r, err))
}

// decodeLogin reads {"user": "<id>"}; the user id follows the rules of user
// ids (ValidateID).
func decodeLogin(w http.ResponseWriter, r *http.Request) (string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", errBadRequest("request body too large: limit is %d bytes (64 KiB)", MaxBodyBytes)
		}
		return "", errBadRequest("cannot read request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", errBadRequest(`request body is empty: {"user": "<user id>"} is required`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in loginInput
	if err := dec.Decode(&in); err != nil {
		return "", errBadRequest("%s", describeLoginJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errBadRequest("invalid JSON: unexpected data after the login object")
	}
	if in.User == nil {
		return "", errBadRequest("user is required")
	}
	if err := ValidateID(*in.User); err != nil {
		return "", errBadRequest("user %v", err)
	}
	return *in.User, nil
}

func describeLoginJSONError(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field == "" {
		return "invalid JSON: expected a login object, got " + typ.Value
	}
	return describeJSONError(err)
}
