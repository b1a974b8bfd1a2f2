package dream

import (
	"strconv"
	"unicode/utf8"
)

// The bounds of the fields the API takes, in bytes of UTF-8. A longer value
// is refused with 400 "Field too long" before anything is stored or sent on.
const (
	// MaxEmail is the longest address RFC 5321 allows.
	MaxEmail = 254
	// MaxName bounds a person's first or last name, a project's name, a
	// tier's display name and each of its features, and a name that refers
	// to a tier: a plan, a tier at checkout, a product in a cart.
	MaxName = 200
	// MaxSlug bounds a tier's slug.
	MaxSlug = 64
	// MaxDescription bounds a tier's description.
	MaxDescription = 2000
	// MaxFeatures bounds the features a tier lists, each at most MaxName.
	MaxFeatures = 50
	// MaxPassword bounds an end user's password.
	MaxPassword = 256
	// MaxID bounds an id of ours or of a provider that a request names: an
	// end user, a price, a product.
	MaxID = 255
	// MaxURL bounds a success, cancel or return URL.
	MaxURL = 2048
	// MaxIdempotencyKey bounds an Idempotency-Key header.
	MaxIdempotencyKey = 255
	// MaxCartLines bounds the lines of one cart.
	MaxCartLines = 100
)

// CheckLength refuses value when it is longer than max bytes, naming field
// as the error's param.
func CheckLength(field, value string, max int) error {
	if len(value) <= max {
		return nil
	}
	return Errorf(KindInvalid, "Field too long", "%s is at most %d bytes, not %d", field, max, len(value)).For(field)
}

// quotedPrefix is how much of a value an error message quotes.
const quotedPrefix = 64

// Quote is s as an error message quotes what it refuses: in Go's quoted
// form, cut to a short prefix, so that a refusal never echoes a large or
// unprintable value back.
func Quote(s string) string {
	if len(s) <= quotedPrefix {
		return strconv.Quote(s)
	}
	cut := quotedPrefix
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
