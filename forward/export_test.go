package forward

// Sign lets tests sign requests to the internal endpoint by hand.
func Sign(secret []byte, method, path, at string, body []byte) string {
	return sign(secret, method, path, at, body)
}
