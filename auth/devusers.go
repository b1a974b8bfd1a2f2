package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dream-api/dream"
	"github.com/dream-api/dream/internal/safefile"
)

// defaultPlan is the plan of a dev user who was never given one, the plan
// every new end user starts on.
const defaultPlan = "free"

// devUsers is the dev issuer's registry of end users. It is kept in a file
// because the developer's dev database refers to end users by id: a restart
// of `dream dev` that gave a returning user a new id would orphan their
// usage and subscriptions.
//
// The file is a journal, one JSON line per change: a user as they are after
// it, or a deletion. A change appends its line, so creating a user costs the
// same with a hundred thousand users as with none; reading the file replays
// it, later lines winning. When the journal holds more than twice the lines
// it needs, it is rewritten with one line per user, which over many changes
// costs a constant per change.
type devUsers struct {
	path string
	now  func() time.Time

	// mu guards the maps and the journal and is held across its write, so
	// that two concurrent first sign-ins of one user agree on an id and
	// lines never interleave.
	mu      sync.Mutex
	byID    map[string]*devUser
	byEmail map[devUserKey]*devUser
	journal *os.File
	// lines is how many lines the journal holds.
	lines int
}

// devUser is one end user of the dev issuer, as a line of the journal
// stores them.
type devUser struct {
	ID             string    `json:"id"`
	PublishableKey string    `json:"publishableKey,omitempty"`
	Email          string    `json:"email,omitempty"`
	FirstName      string    `json:"firstName,omitempty"`
	LastName       string    `json:"lastName,omitempty"`
	Plan           string    `json:"plan,omitempty"`
	CreatedAt      time.Time `json:"createdAt,omitzero"`
	// PasswordHash is the bcrypt hash of the password of a user who signed
	// up on the hosted pages, or was created with one; "" for users minted
	// by email.
	PasswordHash string `json:"passwordHash,omitempty"`
	// Deleted marks the line of a deletion, which names only the id.
	Deleted bool `json:"deleted,omitempty"`
}

// devUserKey identifies a dev user: email addresses are case-insensitive in
// practice, so a user who types their address in another case is the same
// user.
type devUserKey struct {
	publishableKey string
	email          string // lower case
}

// compactAfter is the fewest lines a journal holds before it is worth
// rewriting.
const compactAfter = 1024

// openDevUsers replays the journal at path, creating an empty one if it
// does not exist: from the users of the document at earlier, the file of
// versions that rewrote every user on each change, when there is one. A
// last line without its newline is a change a crash cut short, and is
// dropped; any other line that does not read is an error.
func openDevUsers(path, earlier string, now func() time.Time) (*devUsers, error) {
	u := &devUsers{path: path, now: now, byID: map[string]*devUser{}, byEmail: map[devUserKey]*devUser{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = usersOfDocument(earlier)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: reading dev users: %w", err)
	}
	if cut := bytes.LastIndexByte(data, '\n') + 1; cut < len(data) {
		data = data[:cut]
	}
	lines := bufio.NewScanner(bytes.NewReader(data))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var user devUser
		if err := json.Unmarshal(lines.Bytes(), &user); err != nil || user.ID == "" {
			return nil, fmt.Errorf("auth: dev users %s: line %d is not a user", path, u.lines+1)
		}
		u.apply(user)
		u.lines++
	}
	if err := lines.Err(); err != nil {
		return nil, fmt.Errorf("auth: reading dev users: %w", err)
	}
	// The journal starts again from what it says now: a torn line goes,
	// and a long history is compacted.
	if err := u.compact(); err != nil {
		return nil, err
	}
	if err := os.Remove(earlier); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth: removing the dev users document: %w", err)
	}
	return u, nil
}

// usersOfDocument reads a document {"users": [...]} as journal lines; no
// document is no users.
func usersOfDocument(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var document struct {
		Users []devUser `json:"users"`
	}
	if err := json.Unmarshal(data, &document); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	var lines bytes.Buffer
	for _, user := range document.Users {
		line, err := json.Marshal(user)
		if err != nil {
			return nil, err
		}
		lines.Write(append(line, '\n'))
	}
	return lines.Bytes(), nil
}

// apply makes a journal line's change to the maps.
func (u *devUsers) apply(user devUser) {
	if old, ok := u.byID[user.ID]; ok {
		delete(u.byEmail, newDevUserKey(old.PublishableKey, old.Email))
		delete(u.byID, user.ID)
	}
	if user.Deleted {
		return
	}
	key := newDevUserKey(user.PublishableKey, user.Email)
	if _, taken := u.byEmail[key]; taken {
		// The first user of an email keeps it, as they always had.
		return
	}
	u.byID[user.ID] = &user
	u.byEmail[key] = &user
}

// record appends a change to the journal and applies it, compacting the
// journal when it has grown to more than twice what it needs.
func (u *devUsers) record(user devUser) error {
	line, err := json.Marshal(user)
	if err != nil {
		return fmt.Errorf("auth: encoding a dev user: %w", err)
	}
	if _, err := u.journal.Write(append(line, '\n')); err != nil {
		// A line cut short would end the journal's reading: rewrite it
		// from what it held before.
		u.compact()
		return fmt.Errorf("auth: saving dev users: %w", err)
	}
	u.apply(user)
	u.lines++
	if u.lines > compactAfter && u.lines > 2*len(u.byID) {
		return u.compact()
	}
	return nil
}

// compact rewrites the journal with one line per user and reopens it for
// appending.
func (u *devUsers) compact() error {
	var data bytes.Buffer
	for _, user := range u.byID {
		line, err := json.Marshal(user)
		if err != nil {
			return fmt.Errorf("auth: encoding a dev user: %w", err)
		}
		data.Write(append(line, '\n'))
	}
	if err := safefile.WriteBytes(u.path, data.Bytes()); err != nil {
		return fmt.Errorf("auth: saving dev users: %w", err)
	}
	journal, err := os.OpenFile(u.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("auth: opening dev users: %w", err)
	}
	if u.journal != nil {
		u.journal.Close()
	}
	u.journal, u.lines = journal, len(u.byID)
	return nil
}

// user returns the user with email in the project of publishableKey,
// creating it if there is none. A non-empty plan becomes the user's plan.
func (u *devUsers) user(publishableKey, email, plan string) (devUser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	existing, ok := u.byEmail[newDevUserKey(publishableKey, email)]
	if ok && (plan == "" || plan == existing.Plan) {
		return *existing, nil
	}
	var user devUser
	if ok {
		user = *existing
	} else {
		user = devUser{ID: newDevUserID(), PublishableKey: publishableKey, Email: email, Plan: defaultPlan, CreatedAt: u.now().UTC()}
	}
	if plan != "" {
		user.Plan = plan
	}
	return user, u.record(user)
}

// create adds a user, like a developer creating a customer; an email the
// project already has is a conflict.
func (u *devUsers) create(n devUser) (devUser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.byEmail[newDevUserKey(n.PublishableKey, n.Email)]; ok {
		return devUser{}, dream.Errorf(dream.KindConflict, "Customer already exists", "That email address is taken")
	}
	n.ID, n.CreatedAt = newDevUserID(), u.now().UTC()
	if n.Plan == "" {
		n.Plan = defaultPlan
	}
	return n, u.record(n)
}

// byEmailOf returns the user with email in the project of publishableKey.
func (u *devUsers) byEmailOf(publishableKey, email string) (devUser, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	user, ok := u.byEmail[newDevUserKey(publishableKey, email)]
	if !ok {
		return devUser{}, false
	}
	return *user, true
}

// byIDOf returns the user with this id.
func (u *devUsers) byIDOf(id string) (devUser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	user, ok := u.byID[id]
	if !ok {
		return devUser{}, errNoDevUser
	}
	return *user, nil
}

// errNoDevUser is the answer for an id no dev user has.
var errNoDevUser = dream.Errorf(dream.KindNotFound, "Customer not found", "No such end user")

// change applies f to the user with this id and saves, or deletes the user
// when f reports false.
func (u *devUsers) change(id string, f func(*devUser) bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	existing, ok := u.byID[id]
	if !ok {
		return errNoDevUser
	}
	user := *existing
	if !f(&user) {
		user = devUser{ID: id, Deleted: true}
	}
	return u.record(user)
}

// newDevUserKey returns the key of the user with email in the project of
// publishableKey.
func newDevUserKey(publishableKey, email string) devUserKey {
	return devUserKey{publishableKey: publishableKey, email: strings.ToLower(email)}
}

// newDevUserID returns a new user id: "user_" and 24 random hex digits,
// prefixed like Clerk's user ids so that dev data reads like production data.
func newDevUserID() string {
	b := make([]byte, 12)
	// crypto/rand.Read never returns an error: it crashes the program when
	// the system cannot supply randomness.
	rand.Read(b)
	return "user_" + hex.EncodeToString(b)
}
