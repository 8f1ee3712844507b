package stacks

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func testZone() GeoZone {
	return GeoZone{Name: "www.mysite.test", TTL: 2 * time.Second, CheckInterval: time.Second, CheckTimeout: time.Second, Path: "/readyz", Geo: true, Health: true,
		Regions: []GeoRegion{{"east", netip.MustParsePrefix("10.10.0.0/16")}, {"west", netip.MustParsePrefix("10.20.0.0/16")}}}
}

func TestGeoZoneFileAnswersEachRegionFromItsOwnEntryFirst(t *testing.T) {
	z := testZone()
	if err := z.Validate(); err != nil {
		t.Fatal(err)
	}
	f := geoZoneFile(z)
	if strings.Contains(f, "$") {
		t.Errorf("a node's files are expanded: no $ in the zone:\n%s", f)
	}
	for _, want := range []string{
		"mysite.test. 2 IN SOA ns.mysite.test.",
		`www.mysite.test. 2 IN LUA A ";if netmask({'10.10.0.0/16'}) then return ifurlup('http://www.mysite.test/readyz', {{'@entry-east@'},{'@entry-west@'}}, {timeout=1}) elseif netmask({'10.20.0.0/16'}) then return ifurlup('http://www.mysite.test/readyz', {{'@entry-west@'},{'@entry-east@'}}, {timeout=1}) else`,
	} {
		if !strings.Contains(f, want) {
			t.Errorf("zone lacks %q:\n%s", want, f)
		}
	}
	z.Geo = false
	if got := strings.Join(z.Order(1), ","); got != "east,west" {
		t.Errorf("without geo, west's order = %s, want east,west", got)
	}
}

func TestGeoZoneRefusesWhatPowerDNSCannotSay(t *testing.T) {
	z := testZone()
	z.TTL, z.CheckTimeout = 1500*time.Millisecond, 0
	z.Regions[1].Subnet = netip.MustParsePrefix("10.10.5.0/24")
	err := z.Validate()
	for _, want := range []string{"check timeout 0s", "TTL 1.5s", "east and west: subnets overlap"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}
