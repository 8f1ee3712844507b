package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTheControlEndpointTakesOnlyRequestsWithItsTokenAndAJSONBody(t *testing.T) {
	c := &controller{token: "s3cret", say: func(string) {}}
	for _, tc := range []struct {
		name, auth, ctype string
		want              int
	}{
		{"no token", "", "application/json", http.StatusUnauthorized},
		{"a wrong token", "Bearer guess", "application/json", http.StatusUnauthorized},
		{"the token without Bearer", "s3cret", "application/json", http.StatusUnauthorized},
		{"a form post, as a web page could send", "Bearer s3cret", "text/plain", http.StatusUnsupportedMediaType},
		// Past the checks: an unknown path is not found.
		{"the token and JSON", "Bearer s3cret", "application/json", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/nothing", strings.NewReader(`{"fault":"x"}`))
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			r.Header.Set("Content-Type", tc.ctype)
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
		})
	}
	// A controller without a token takes nothing.
	r := httptest.NewRequest(http.MethodPost, "/fault", strings.NewReader(`{}`))
	r.Header.Set("Authorization", "Bearer ")
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	(&controller{}).ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("empty token: status %d, want 401", w.Code)
	}
}
