package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/dream-api/dream"
)

// maxJSONDepth bounds how deeply a body's arrays and objects nest; the
// API's own bodies nest three levels at most.
const maxJSONDepth = 32

var errInvalidJSON = dream.Errorf(dream.KindInvalid, "Invalid JSON body", "The request body must be a JSON object")

// decodeJSON reads a request body holding one JSON value into v.
func decodeJSON(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	valid, duplicate := scanJSON(data)
	switch {
	case duplicate != nil:
		return duplicate
	case !valid:
		return errInvalidJSON
	}
	if json.Unmarshal(data, v) != nil {
		return errInvalidJSON
	}
	return nil
}

// decodeOptionalJSON reads an optional JSON body into v. The original
// service treated a missing or unreadable body of the checkout routes as
// {}, and clients rely on that: only a body too large, or one that names a
// key twice and so says two things at once, is an error.
func decodeOptionalJSON(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if _, duplicate := scanJSON(data); duplicate != nil {
		return duplicate
	}
	json.Unmarshal(data, v)
	return nil
}

// readBody reads a request body, which the route's MaxBody bounds.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errBodyTooLarge(tooLarge.Limit)
	case err != nil:
		return nil, errInvalidJSON
	}
	return data, nil
}

// scanJSON reports whether data is one JSON value nested at most
// maxJSONDepth deep with no key twice in an object, and for a body that is
// JSON but holds a key twice, the refusal that names it. Keys are compared
// ignoring case, as encoding/json matches them to fields:
// {"plan":"free","Plan":"pro"} would otherwise mean the last.
func scanJSON(data []byte) (valid bool, duplicate error) {
	if !json.Valid(data) {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	duplicate, err := scanValue(dec, 0)
	return duplicate == nil && err == nil, duplicate
}

// scanValue reads one value from dec.
func scanValue(dec *json.Decoder, depth int) (duplicate, err error) {
	if depth > maxJSONDepth {
		return nil, errInvalidJSON
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			folded := strings.ToLower(key.(string))
			if seen[folded] {
				return dream.Errorf(dream.KindInvalid, "Invalid JSON body", "The key %s appears twice in one object", dream.Quote(key.(string))), nil
			}
			seen[folded] = true
			if duplicate, err := scanValue(dec, depth+1); duplicate != nil || err != nil {
				return duplicate, err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if duplicate, err := scanValue(dec, depth+1); duplicate != nil || err != nil {
				return duplicate, err
			}
		}
		_, err = dec.Token()
	}
	return nil, err
}
