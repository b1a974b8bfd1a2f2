package outbox

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

func TestCheckpointsStayOffTheAppendPath(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "outbox.db"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var auto int
	if err := o.db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("the appender checkpoints automatically every %d pages (%v)", auto, err)
	}
	for i := 0; i < 50; i++ {
		if _, _, err := o.Append(context.Background(), dream.Increment{EnvironmentID: 1, UserID: "u", At: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointing connection copies the log while the appender
	// keeps its own.
	var busy, logFrames, copied int
	if err := o.checkpoints.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &copied); err != nil {
		t.Fatal(err)
	}
	if busy != 0 || logFrames == 0 || copied != logFrames {
		t.Fatalf("checkpoint: busy %d, %d frames in the log, %d copied", busy, logFrames, copied)
	}
}
