package verdict

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/scalelab/scalelab/internal/check"
)

// NoSessionsLost holds when sessions were established and tested, and no
// user was logged out: the stateless web tier's promise (sessions in a
// shared store survive losing, adding or removing web servers). Value is the
// number of lost sessions.
func NoSessionsLost(s check.Sessions) Guarantee {
	g := Guarantee{
		Name:      "no sessions lost",
		Threshold: "0 lost",
		Measured:  s.String(),
		Value:     float64(s.Count()),
		Holds:     s.Total > 0 && s.Checked > 0 && s.Count() == 0,
	}
	g.Detail = sessionsDetail(s)
	return noSessions(g, s)
}

// SessionsLostAtLeast holds when at least frac of the sessions established
// were lost: the negative control (sessions in web servers' memory with
// sticky routing lose about 1/N of the live sessions when one of N servers
// dies). Value is the lost fraction.
//
// Total counts every session of the run, the re-logins after a loss
// included, so the fraction is below the share of sessions the dead server
// held: choose frac well under 1/N (e.g. half of it).
func SessionsLostAtLeast(s check.Sessions, frac float64) Guarantee {
	f, ok := s.Fraction()
	g := Guarantee{
		Name:      "sessions lost",
		Threshold: fmt.Sprintf(">= %.4g of sessions", frac),
		Measured:  s.String(),
		Value:     f,
		Holds:     ok && s.Checked > 0 && s.Count() > 0 && f >= frac,
	}
	g.Detail = sessionsDetail(s)
	return noSessions(g, s)
}

// noSessions marks a sessions guarantee not judged when no session was
// established or none was tested: nothing could be lost.
func noSessions(g Guarantee, s check.Sessions) Guarantee {
	switch {
	case s.Total == 0:
		return NotJudgedBecause(g, fmt.Sprintf("no login succeeded (%d attempts): no session to lose", s.Logins))
	case s.Checked == 0:
		return NotJudgedBecause(g, "no request tested an established session")
	}
	return g
}

func sessionsDetail(s check.Sessions) string {
	var detail []string
	switch {
	case s.Total == 0:
		detail = append(detail, fmt.Sprintf("no login succeeded (%d attempts): nothing to lose", s.Logins))
	case s.Checked == 0:
		detail = append(detail, "no request tested an established session")
	}
	if s.Count() > 0 {
		detail = append(detail, "401s answered by "+serverCounts(s.ByServer)+"; sessions last served by "+serverCounts(s.HeldBy))
		detail = append(detail, "lost: "+examples(s.Lost, describeLostSession))
	}
	if s.Unattributed > 0 {
		detail = append(detail, fmt.Sprintf("%d 401 answers carried no established session", s.Unattributed))
	}
	return strings.Join(detail, "; ")
}

func describeLostSession(l check.LostSession) string {
	held := "never served"
	if l.LastServer != "" {
		held = fmt.Sprintf("last served by %s at %v", l.LastServer, l.LastOK)
	}
	return fmt.Sprintf("client %d session %s (user %s, login at %v on %s, %s) got 401 from %s at %v on %s",
		l.Client, l.Session, l.User, l.Established, orUnknown(l.LoginServer), held, orUnknown(l.Server), l.At, l.Op.Kind)
}

// serverCounts renders {"web2": 3, "web1": 1} as "web2 (3), web1 (1)", most
// first.
func serverCounts(m map[string]int) string {
	names := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(names, func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d)", orUnknown(n), m[n])
	}
	return strings.Join(parts, ", ")
}

func orUnknown(server string) string {
	if server == "" {
		return "an unnamed server"
	}
	return server
}
