package store

import (
	"database/sql"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// TestUsageRulesAgreeWithGo holds the SQL forms of the usage rules to the
// Go rules of package dream on the same cases: the limit check, and adding
// units to a stored counter across the end of its period, for stored
// periods in every form a row may hold them.
func TestUsageRulesAgreeWithGo(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	t.Run("Admits", func(t *testing.T) {
		for _, limit := range []dream.Limit{dream.Unlimited, -7, 0, 1, 100} {
			for _, count := range []int64{0, 1, 99, 100, 101, 1 << 40} {
				var admits bool
				if err := db.QueryRow(`SELECT `+admitsSQL("?1", "?2"), int64(limit), count).Scan(&admits); err != nil {
					t.Fatal(err)
				}
				if want := limit.Admits(count); admits != want {
					t.Errorf("limit %d after %d units: SQL admits %v, Go %v", limit, count, admits, want)
				}
			}
		}
	})

	t.Run("AddUnits", func(t *testing.T) {
		if _, err := db.Exec(`CREATE TABLE usage_counters (id INTEGER PRIMARY KEY, period_start TEXT, period_end TEXT, count INTEGER)`); err != nil {
			t.Fatal(err)
		}
		add := `INSERT INTO usage_counters (id, period_start, period_end, count) VALUES (1, ?1, ?2, ?3)
			ON CONFLICT (id) DO UPDATE SET ` + addUnitsSQL("?3") + `
			RETURNING count, period_start, period_end`
		at := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
		for _, stored := range []struct{ start, end string }{
			{"2025-02-09", "2025-03-10"}, // ends today: still running
			{"2025-02-08", "2025-03-09"}, // ended yesterday
			{"2025-03-10", "2025-04-08"}, // started today
			{"2024-01-01", "2024-01-30"}, // long over
			// Imported from the original service as timestamps, whose UTC
			// day decides.
			{"2025-02-10T00:00:00.000Z", "2025-03-10T00:00:00.000Z"},
			{"2025-02-01T00:00:00Z", "2025-03-09T23:59:59.999999999Z"},
			{"2025-02-01T00:00:00-05:00", "2025-03-09T22:00:00-05:00"}, // 03-10 in UTC
			{"2025-02-01T00:00:00+09:00", "2025-03-10T08:00:00+09:00"}, // 03-09 in UTC
		} {
			period, err := dream.ParsePeriod(stored.start, stored.end)
			if err != nil {
				t.Fatal(err)
			}
			counter := &dream.UsageCounter{Count: 40, Period: period}
			if _, err := db.Exec(`DELETE FROM usage_counters; INSERT INTO usage_counters VALUES (1, ?, ?, 40)`, stored.start, stored.end); err != nil {
				t.Fatal(err)
			}
			fresh := dream.PeriodStartingAt(at)
			var countAt int64
			if err := db.QueryRow(`SELECT `+countAtSQL("?")+` FROM usage_counters`, fresh.StartString()).Scan(&countAt); err != nil {
				t.Fatal(err)
			}
			if want := counter.At(at).Count; countAt != want {
				t.Errorf("40 units in %s..%s read on %s: SQL counts %d, Go %d", stored.start, stored.end, fresh.StartString(), countAt, want)
			}
			var got dream.UsageCounter
			var start, end string
			if err := db.QueryRow(add, fresh.StartString(), fresh.EndString(), 3).Scan(&got.Count, &start, &end); err != nil {
				t.Fatal(err)
			}
			if got.Period, err = dream.ParsePeriod(start, end); err != nil {
				t.Fatal(err)
			}
			if want := counter.Add(3, at); got != want {
				t.Errorf("3 units on %s to 40 in %s..%s: SQL counts %d in %s..%s, Go %d in %s..%s", fresh.StartString(),
					stored.start, stored.end, got.Count, start, end, want.Count, want.Period.StartString(), want.Period.EndString())
			}
		}
	})
}
