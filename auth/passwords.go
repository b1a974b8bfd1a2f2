package auth

import (
	"golang.org/x/crypto/bcrypt"
)

// Passwords hashes developers' passwords with bcrypt. It implements
// dream.PasswordHasher.
type Passwords struct {
	cost int
	// decoy is a hash of no password anyone has, compared against when
	// there is no account, so that the answer takes as long as for one.
	decoy []byte
}

// NewPasswords returns a hasher of the given bcrypt cost; 0 is bcrypt's
// default. Tests use bcrypt.MinCost.
func NewPasswords(cost int) (*Passwords, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	decoy, err := bcrypt.GenerateFromPassword([]byte("no account has this password"), cost)
	if err != nil {
		return nil, err
	}
	return &Passwords{cost: cost, decoy: decoy}, nil
}

// Hash implements dream.PasswordHasher.
func (p *Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	return string(h), err
}

// Matches implements dream.PasswordHasher.
func (p *Passwords) Matches(hash, password string) bool {
	if hash == "" {
		bcrypt.CompareHashAndPassword(p.decoy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
