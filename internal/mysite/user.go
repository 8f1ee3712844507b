package mysite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// User is the resource mysite stores. Every key is always present in
// responses: address is null when none was stored, phoneNumbers is [] when
// none, writeId is "" when the write carried none.
type User struct {
	ID           string        `json:"id"`
	FirstName    string        `json:"firstName"`
	LastName     string        `json:"lastName"`
	Address      *Address      `json:"address"`
	PhoneNumbers []PhoneNumber `json:"phoneNumbers"`
	// WriteID is chosen by the client per write and stored with it, so that a
	// checker can tell which write a later read observed.
	WriteID string `json:"writeId"`
	// Version is assigned by the server: 1 on create, +1 on every update.
	Version int64 `json:"version"`

	// commitLSN is the primary's WAL position after the write that returned
	// this user (read-your-writes routing); 0 when not read.
	commitLSN int64
}

// Address is the postal address of a user.
type Address struct {
	StreetAddress string `json:"streetAddress"`
	City          string `json:"city"`
	State         string `json:"state"`
	PostalCode    string `json:"postalCode"`
}

// PhoneNumber is one phone number of a user.
type PhoneNumber struct {
	Type   string `json:"type"`
	Number string `json:"number"`
}

// Input limits.
const (
	MaxBodyBytes   = 64 << 10 // request bodies larger than this are refused
	MaxIDLen       = 64
	MaxWriteIDLen  = 256
	MaxPhoneNumber = 100 // entries in phoneNumbers
)

// userInput is the accepted request body: the User shape, where version may be
// sent (for example a GET result sent back) but is ignored.
type userInput struct {
	ID           *string       `json:"id"`
	FirstName    *string       `json:"firstName"`
	LastName     string        `json:"lastName"`
	Address      *Address      `json:"address"`
	PhoneNumbers []PhoneNumber `json:"phoneNumbers"`
	WriteID      string        `json:"writeId"`
	Version      *int64        `json:"version"` // ignored: the server assigns versions
}

// badRequest is a client error; its message is sent as the "error" field.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func errBadRequest(format string, args ...any) error {
	return &badRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// ValidateID reports why id is not an acceptable user id, or nil.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("id is required")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("id is too long: %d characters, at most %d allowed", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("id %q contains an invalid character: only A-Z a-z 0-9 _ - are allowed", id)
		}
	}
	return nil
}

// decodeUser reads and validates a user from the request body. pathID is the
// id from the URL ("" for POST /users): when set, the body id may be omitted
// but must match it if present.
func decodeUser(w http.ResponseWriter, r *http.Request, pathID string) (User, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return User{}, errBadRequest("request body too large: limit is %d bytes (64 KiB)", MaxBodyBytes)
		}
		return User{}, errBadRequest("cannot read request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return User{}, errBadRequest("request body is empty: a JSON user object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in userInput
	if err := dec.Decode(&in); err != nil {
		return User{}, errBadRequest("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return User{}, errBadRequest("invalid JSON: unexpected data after the user object")
	}

	var u User
	switch {
	case in.ID == nil && pathID == "":
		return User{}, errBadRequest("id is required")
	case in.ID == nil:
		u.ID = pathID
	default:
		u.ID = *in.ID
		if pathID != "" && u.ID != pathID {
			return User{}, errBadRequest("id in body (%q) does not match id in path (%q)", u.ID, pathID)
		}
	}
	if err := ValidateID(u.ID); err != nil {
		return User{}, errBadRequest("%v", err)
	}
	if in.FirstName == nil || strings.TrimSpace(*in.FirstName) == "" {
		return User{}, errBadRequest("firstName is required")
	}
	u.FirstName = *in.FirstName
	u.LastName = in.LastName
	u.Address = in.Address
	u.PhoneNumbers = in.PhoneNumbers
	if u.PhoneNumbers == nil {
		u.PhoneNumbers = []PhoneNumber{}
	}
	if len(u.PhoneNumbers) > MaxPhoneNumber {
		return User{}, errBadRequest("too many phoneNumbers: %d, at most %d allowed", len(u.PhoneNumbers), MaxPhoneNumber)
	}
	u.WriteID = in.WriteID
	if len(u.WriteID) > MaxWriteIDLen {
		return User{}, errBadRequest("writeId is too long: %d characters, at most %d allowed", len(u.WriteID), MaxWriteIDLen)
	}
	if field := nulField(u); field != "" {
		// PostgreSQL text and jsonb cannot hold U+0000.
		return User{}, errBadRequest("%s must not contain the NUL character (\\u0000)", field)
	}
	return u, nil
}

// nulField names the first string field that contains a NUL byte, or "".
func nulField(u User) string {
	has := func(s string) bool { return strings.IndexByte(s, 0) >= 0 }
	switch {
	case has(u.FirstName):
		return "firstName"
	case has(u.LastName):
		return "lastName"
	case has(u.WriteID):
		return "writeId"
	}
	if a := u.Address; a != nil {
		switch {
		case has(a.StreetAddress):
			return "address.streetAddress"
		case has(a.City):
			return "address.city"
		case has(a.State):
			return "address.state"
		case has(a.PostalCode):
			return "address.postalCode"
		}
	}
	for i, p := range u.PhoneNumbers {
		if has(p.Type) {
			return fmt.Sprintf("phoneNumbers[%d].type", i)
		}
		if has(p.Number) {
			return fmt.Sprintf("phoneNumbers[%d].number", i)
		}
	}
	return ""
}

// describeJSONError turns an encoding/json error into a message for clients.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("invalid JSON: expected a user object, got %s", typ.Value)
		}
		return fmt.Sprintf("invalid JSON: field %s must be %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "invalid JSON: unexpected end of input"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return msg // `unknown field "foo"`
	}
	return "invalid JSON: " + msg
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "struct", "ptr":
		return "an object"
	case "slice":
		return "an array"
	case "int64":
		return "an integer"
	}
	return "of type " + goKind
}
