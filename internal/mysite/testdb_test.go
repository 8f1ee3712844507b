package mysite

import (
	"testing"

	"github.com/scalelab/scalelab/internal/testdb"
)

// TestMain starts PostgreSQL and Redis containers (scalelab/node:current) in
// the background while the unit tests run, and removes them at the end. The
// integration tests (integration_test.go, redis_integration_test.go) wait for
// them; MYSITE_TEST_DB and REDIS_TEST_ADDR name other servers instead.
//
// RabbitMQ starts only when the first jobs test asks for it: its boot takes
// a core for several seconds, and timing tests that ran beside it failed.
func TestMain(m *testing.M) { testdb.Main(m, testdb.PG, testdb.Redis) }
