package auth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dream-api/dream"
)

// defaultPlan is the plan of a dev user who was never given one, the plan
// every new end user starts on.
const defaultPlan = "free"

// devUsers is the dev issuer's registry of end users. It is kept in a file
// because the developer's dev database refers to end users by id: a restart
// of `dream dev` that gave a returning user a new id would orphan their
// usage and subscriptions.
type devUsers struct {
	path string
	now  func() time.Time

	// mu guards users and index and is held across the file write, so that
	// two concurrent first sign-ins of one user agree on an id and no write
	// of the file loses another's user.
	mu    sync.Mutex
	users []devUser          // in file order
	index map[devUserKey]int // into users
}

// devUser is one end user of the dev issuer, as stored in the users file.
type devUser struct {
	ID             string    `json:"id"`
	PublishableKey string    `json:"publishableKey"`
	Email          string    `json:"email"`
	FirstName      string    `json:"firstName,omitempty"`
	LastName       string    `json:"lastName,omitempty"`
	Plan           string    `json:"plan"`
	CreatedAt      time.Time `json:"createdAt"`
	// PasswordHash is the bcrypt hash of the password of a user who signed
	// up on the hosted pages, or was created with one; "" for users minted
	// by email.
	PasswordHash string `json:"passwordHash,omitempty"`
}

// devUserKey identifies a dev user: email addresses are case-insensitive in
// practice, so a user who types their address in another case is the same
// user.
type devUserKey struct {
	publishableKey string
	email          string // lower case
}

// devUsersDocument is the layout of the users file.
type devUsersDocument struct {
	Users []devUser `json:"users"`
}

// openDevUsers loads the users file at path, creating an empty one if it
// does not exist.
func openDevUsers(path string, now func() time.Time) (*devUsers, error) {
	u := &devUsers{path: path, now: now, index: make(map[devUserKey]int)}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := u.save([]devUser{}); err != nil {
			return nil, err
		}
		return u, nil
	} else if err != nil {
		return nil, fmt.Errorf("auth: reading dev users: %w", err)
	}
	var document devUsersDocument
	if err := json.Unmarshal(data, &document); err != nil {
		return nil, fmt.Errorf("auth: parsing dev users %s: %w", path, err)
	}
	u.users = document.Users
	for i, user := range u.users {
		key := newDevUserKey(user.PublishableKey, user.Email)
		if _, ok := u.index[key]; !ok {
			u.index[key] = i
		}
	}
	return u, nil
}

// user returns the user with email in the project of publishableKey,
// creating it if there is none. A non-empty plan becomes the user's plan.
func (u *devUsers) user(publishableKey, email, plan string) (devUser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()

	key := newDevUserKey(publishableKey, email)
	i, ok := u.index[key]
	if ok && (plan == "" || plan == u.users[i].Plan) {
		return u.users[i], nil
	}

	// Change a copy and adopt it only once it is saved, so that a failed
	// write leaves memory agreeing with the file.
	users := slices.Clone(u.users)
	if !ok {
		i = len(users)
		users = append(users, devUser{
			ID:             newDevUserID(),
			PublishableKey: publishableKey,
			Email:          email,
			Plan:           defaultPlan,
			CreatedAt:      u.now().UTC(),
		})
	}
	if plan != "" {
		users[i].Plan = plan
	}
	if err := u.save(users); err != nil {
		return devUser{}, err
	}
	u.users = users
	u.index[key] = i
	return users[i], nil
}

// create adds a user, like a developer creating a customer; an email the
// project already has is a conflict.
func (u *devUsers) create(n devUser) (devUser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	key := newDevUserKey(n.PublishableKey, n.Email)
	if _, ok := u.index[key]; ok {
		return devUser{}, dream.Errorf(dream.KindConflict, "Customer already exists", "That email address is taken")
	}
	n.ID, n.CreatedAt = newDevUserID(), u.now().UTC()
	if n.Plan == "" {
		n.Plan = defaultPlan
	}
	users := append(slices.Clone(u.users), n)
	if err := u.save(users); err != nil {
		return devUser{}, err
	}
	u.users = users
	u.index[key] = len(users) - 1
	return n, nil
}

// byEmail returns the user with email in the project of publishableKey.
func (u *devUsers) byEmail(publishableKey, email string) (devUser, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	i, ok := u.index[newDevUserKey(publishableKey, email)]
	if !ok {
		return devUser{}, false
	}
	return u.users[i], true
}

// byID returns the user with this id.
func (u *devUsers) byID(id string) (devUser, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	i := slices.IndexFunc(u.users, func(user devUser) bool { return user.ID == id })
	if i < 0 {
		return devUser{}, errNoDevUser
	}
	return u.users[i], nil
}

// errNoDevUser is the answer for an id no dev user has.
var errNoDevUser = dream.Errorf(dream.KindNotFound, "Customer not found", "No such end user")

// change applies f to the user with this id and saves, or deletes the user
// when f reports false.
func (u *devUsers) change(id string, f func(*devUser) bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	i := slices.IndexFunc(u.users, func(user devUser) bool { return user.ID == id })
	if i < 0 {
		return errNoDevUser
	}
	users := slices.Clone(u.users)
	if !f(&users[i]) {
		users = slices.Delete(users, i, i+1)
	}
	if err := u.save(users); err != nil {
		return err
	}
	u.users = users
	u.index = make(map[devUserKey]int, len(users))
	for j, user := range users {
		u.index[newDevUserKey(user.PublishableKey, user.Email)] = j
	}
	return nil
}

// save writes users to the users file.
func (u *devUsers) save(users []devUser) error {
	data, err := json.MarshalIndent(devUsersDocument{Users: users}, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: encoding dev users: %w", err)
	}
	if err := writeFileAtomic(u.path, data); err != nil {
		return fmt.Errorf("auth: saving dev users: %w", err)
	}
	return nil
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
