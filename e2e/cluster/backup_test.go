package cluster_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/e2e/harness"
	"github.com/dream-api/dream/store"
)

const (
	// backupUsers end users are tracked backupTracks times in all, by
	// backupClients concurrent clients at the two replicas.
	backupUsers   = 10
	backupTracks  = 300
	backupClients = 6
	// backupAfter is how many tracks are acknowledged before the backups
	// are taken, the next ones coming while they run; the last backupHeld
	// tracks wait until they are written, so that some units come after.
	backupAfter = 100
	backupHeld  = 100
)

// TestBackupFromAReplicaUnderLoad takes a backup from a replica with
// `dream backup` while end users' tracks go through the replicas, restores
// it to a fresh single node with `dream restore` and `dream serve`, and
// checks that the node counts exactly the units applied up to the backup's
// position: of each node's units, those numbered up to the high-water
// mark the backup holds. Which units those are is read from the primary
// once every unit is applied: it records under each track's idempotency
// key the node and sequence number of the unit that carried it.
func TestBackupFromAReplicaUnderLoad(t *testing.T) {
	clusterStart := time.Now()
	c := newCluster(t, harness.Config{Nodes: 3})
	primaryNode, replica1, replica2 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	c.startSeeded(harness.SeedOptions{})
	started := time.Since(clusterStart)

	users, tokens := c.endUsers("backup", backupUsers)
	var (
		mu           sync.Mutex
		acknowledged = map[string]int64{}
		total        int
		// trackKeys is the user of each track by its write id.
		trackKeys = map[string]string{}
	)
	loadStart := time.Now()
	tracks := make(chan int)
	backupsWritten := make(chan struct{})
	var written sync.Once
	go func() {
		defer close(tracks)
		for i := range backupTracks {
			if i == backupTracks-backupHeld {
				<-backupsWritten
			}
			tracks <- i
			// Paced, so that tracks go on while the backup runs.
			time.Sleep(4 * time.Millisecond)
		}
	}()
	var clients sync.WaitGroup
	// A test that ends early lets the tracks finish before the cluster
	// stops.
	t.Cleanup(func() {
		written.Do(func() { close(backupsWritten) })
		clients.Wait()
	})
	for range backupClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := range tracks {
				user, n := users[i%len(users)], []*harness.Node{replica1, replica2}[i%2]
				key := fmt.Sprintf("backup-%s-%d", user, i)
				acked := false
				for attempt := 0; attempt < 100 && !acked; attempt++ {
					status, body, _, err := call("POST", n.URL("/api/data"), "",
						"X-Publishable-Key", c.project.Test.PublishableKey, "X-Clerk-Token", tokens[user], "Idempotency-Key", key)
					if acked = err == nil && status == 200; !acked {
						t.Logf("track %s at %s not acknowledged yet: status %d, body %v, error %v; retrying", key, n.Name, status, body, err)
						time.Sleep(20 * time.Millisecond)
					}
				}
				if !acked {
					t.Errorf("track %s at %s never acknowledged, want 200", key, n.Name)
					continue
				}
				mu.Lock()
				acknowledged[user]++
				total++
				trackKeys[dream.TrackWriteID(c.project.Test.EnvironmentID, user, key)] = user
				mu.Unlock()
			}
		}()
	}
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return total
	}
	eventually(t, 30*time.Second, fmt.Sprintf("%d tracks acknowledged before the backup", backupAfter), func() error {
		if n := acked(); n < backupAfter {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})

	// Backups of replica-1's copy and of the primary's, while tracks go on.
	dir := filepath.Join(t.TempDir(), "backups")
	os.MkdirAll(dir, 0o700)
	ackedBefore := acked()
	replicaBackup := c.backupAt(t, replica1, filepath.Join(dir, "replica.db"))
	ackedAfter := acked()
	primaryBackup := c.backupAt(t, primaryNode, filepath.Join(dir, "primary.db"))
	written.Do(func() { close(backupsWritten) })
	clients.Wait()
	loadTime := time.Since(loadStart)
	if t.Failed() {
		t.FailNow()
	}

	// Every track applied at the primary, counted once, then which of them
	// the backup's marks cover.
	eventually(t, 30*time.Second, "every node's outbox shipped and empty", func() error {
		for _, n := range c.Nodes {
			if waiting, err := outboxLen(n); err != nil || waiting > 0 {
				return fmt.Errorf("%s has %d units waiting in its outbox, error %v", n.Name, waiting, err)
			}
		}
		return nil
	})
	counted, err := counters(primaryNode.DB(), c.project.Test.EnvironmentID)
	if err != nil {
		t.Fatal(err)
	}
	units, err := appliedUnits(primaryNode, trackKeys)
	if err != nil {
		t.Fatal(err)
	}
	expected, expectedTotal := upToMarks(units, replicaBackup.marks)
	for _, user := range users {
		if counted[user] != acknowledged[user] {
			t.Fatalf("the primary counted %d units of %s, who had %d tracks acknowledged; want every track counted once", counted[user], user, acknowledged[user])
		}
	}
	if len(units) != backupTracks || expectedTotal == 0 || expectedTotal > backupTracks-backupHeld {
		t.Fatalf("the primary recorded %d tracked units, %d of them up to the backup's marks; want all %d, and the backup some but at most the %d tracked before it",
			len(units), expectedTotal, backupTracks, backupTracks-backupHeld)
	}
	// The primary's backup counts its units itself.
	inPrimaryBackup, err := counters(primaryBackup.file, c.project.Test.EnvironmentID)
	if err != nil {
		t.Fatal(err)
	}
	primaryExpected, primaryTotal := upToMarks(units, primaryBackup.marks)
	for _, user := range users {
		if inPrimaryBackup[user] != primaryExpected[user] {
			t.Errorf("the primary's backup counts %d units of %s, want %d: the units up to its marks", inPrimaryBackup[user], user, primaryExpected[user])
		}
	}
	if primaryTotal < expectedTotal || primaryTotal > backupTracks-backupHeld {
		t.Errorf("the primary's backup, taken after replica-1's, holds %d units up to its marks, want from replica-1's %d to the %d tracked before it",
			primaryTotal, expectedTotal, backupTracks-backupHeld)
	}

	// A fresh node from the backup.
	restoreStart := time.Now()
	restored := filepath.Join(t.TempDir(), "restored", "dream.db")
	runDream(t, c.bin, "restore", "--from", replicaBackup.file, "--db", restored)
	restoreTime := time.Since(restoreStart)
	serveStart := time.Now()
	alone, err := c.ServeAlone(filepath.Dir(restored), restored, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := alone.Stop(); err != nil {
			t.Errorf("stopping the restored node: %v, want a clean exit", err)
		}
		if t.Failed() {
			t.Logf("---- restored node's log ----\n%s", alone.LogTail(40))
		}
	})
	serveTime := time.Since(serveStart)
	var restoredTotal int64
	for _, user := range users {
		status, body, _, err := call("GET", alone.URL("/api/usage"), "", "X-Publishable-Key", c.project.Test.PublishableKey, "X-Clerk-Token", tokens[user])
		got, _ := body["usageCount"].(float64)
		if err != nil || status != 200 || int64(got) != expected[user] {
			t.Errorf("the restored node counts %v units of %s (status %d, error %v), want %d: the units applied up to the backup's marks (the primary counted %d in all)",
				body["usageCount"], user, status, err, expected[user], counted[user])
		}
		restoredTotal += int64(got)
	}
	t.Logf("cluster started in %s; %d tracks of %d users acknowledged in %s; the backup at replica-1 took %s "+
		"(%d tracks acknowledged when it began, %d when it ended), at LiteFS transaction %s (replica-1 at %s before, %s after), marks %v; "+
		"%d units applied up to them, %d restored (restore %s, serve ready %s); the primary's backup took %s, at transaction %s (%s before, %s after), %d units",
		started.Round(time.Millisecond), backupTracks, backupUsers, loadTime.Round(time.Millisecond), replicaBackup.took.Round(time.Millisecond),
		ackedBefore, ackedAfter, replicaBackup.txid, replicaBackup.before, replicaBackup.after, replicaBackup.marks, expectedTotal, restoredTotal,
		restoreTime.Round(time.Millisecond), serveTime.Round(time.Millisecond),
		primaryBackup.took.Round(time.Millisecond), primaryBackup.txid, primaryBackup.before, primaryBackup.after, primaryTotal)
}

// takenBackup is a backup that dream backup wrote at a node.
type takenBackup struct {
	file string
	// marks are the usage marks the file holds; txid the LiteFS
	// transaction dream backup reported.
	marks map[string]int64
	txid  store.Position
	// before and after are the node's positions around the backup.
	before, after store.Position
	took          time.Duration
}

// backupAt runs dream backup on node n's copy of the database into file,
// and checks that what it reports is what the file holds, at a position
// of n during the backup.
func (c *cluster) backupAt(t *testing.T, n *harness.Node, file string) takenBackup {
	t.Helper()
	b := takenBackup{file: file}
	var err error
	if b.before, err = position(n); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	report := backupLog(t, runDream(t, c.bin, "backup", "--db", n.DB(), "--out", file))
	b.took = time.Since(start)
	if b.after, err = position(n); err != nil {
		t.Fatal(err)
	}
	if b.marks = fileMarks(t, file); fmt.Sprint(report.UsageMarks) != fmt.Sprint(b.marks) || len(b.marks) == 0 {
		t.Fatalf("dream backup at %s reported usage marks %v, the file holds %v; want the same, and some", n.Name, report.UsageMarks, b.marks)
	}
	if b.txid, err = store.ParsePosition(report.TXID); err != nil || b.txid < b.before || b.txid > b.after {
		t.Fatalf("dream backup at %s reported LiteFS transaction %q (%v), want one between %s before and %s after it",
			n.Name, report.TXID, err, b.before, b.after)
	}
	return b
}

// upToMarks counts per user, and in all, the units numbered up to their
// node's mark.
func upToMarks(units []appliedUnit, marks map[string]int64) (map[string]int64, int64) {
	counts := map[string]int64{}
	var total int64
	for _, u := range units {
		if u.Seq <= marks[u.Node] {
			counts[u.User]++
			total++
		}
	}
	return counts, total
}

// runDream runs a dream command to completion and returns its standard
// error, failing the test if it fails.
func runDream(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dream %s: %v, want success; its output:\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	t.Logf("dream %s:\n%s", args[0], stdout.Bytes())
	return stderr.Bytes()
}

// backupReport is what dream backup logs of the backup it wrote.
type backupReport struct {
	UsageMarks map[string]int64 `json:"usage_marks"`
	TXID       string           `json:"litefs_txid"`
}

// backupLog finds the "backup written" line in dream backup's log.
func backupLog(t *testing.T, log []byte) backupReport {
	t.Helper()
	lines := bufio.NewScanner(bytes.NewReader(log))
	for lines.Scan() {
		var line struct {
			Msg string
			backupReport
		}
		if json.Unmarshal(lines.Bytes(), &line) == nil && line.Msg == "backup written" {
			return line.backupReport
		}
	}
	t.Fatalf("dream backup logged no line \"backup written\", want one; its log:\n%s", log)
	return backupReport{}
}

// position reads the LiteFS position of a node's copy.
func position(n *harness.Node) (store.Position, error) {
	l := store.DetectLiteFS(n.DB())
	if l == nil {
		return 0, fmt.Errorf("%s: no LiteFS mount at %s", n.Name, n.DB())
	}
	return l.Position()
}

// fileMarks reads the nodes' high-water marks in a backup file.
func fileMarks(t *testing.T, path string) map[string]int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT node_id, seq FROM edge_marks`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	marks := map[string]int64{}
	for rows.Next() {
		var node string
		var seq int64
		if err := rows.Scan(&node, &seq); err != nil {
			t.Fatal(err)
		}
		marks[node] = seq
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return marks
}

// appliedUnit is a tracked unit the primary applied: its user, and the
// node and sequence number of the unit that carried it.
type appliedUnit struct {
	User string
	Node string `json:"node"`
	Seq  int64  `json:"seq"`
}

// appliedUnits reads the primary's record of the units of the tracks
// whose write ids are the keys of users.
func appliedUnits(primaryNode *harness.Node, users map[string]string) ([]appliedUnit, error) {
	db, err := sql.Open("sqlite3", "file:"+primaryNode.DB()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, outcome FROM applied_writes`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var units []appliedUnit
	for rows.Next() {
		var id, outcome string
		if err := rows.Scan(&id, &outcome); err != nil {
			return nil, err
		}
		user, ok := users[id]
		if !ok {
			continue
		}
		u := appliedUnit{User: user}
		if err := json.Unmarshal([]byte(outcome), &u); err != nil {
			return nil, fmt.Errorf("the record of %s's unit %s: %w", user, id, err)
		}
		units = append(units, u)
	}
	return units, rows.Err()
}
