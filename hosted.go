package dream

import (
	"net/url"
	"strings"
)

// The hosted end-user pages (/signup, /signin, /account, /refresh) are what
// the SDK's auth helpers open: they sign an end user up or in to a project
// and send the browser back to the developer's front end with a token. The
// redirect back is the one thing a hostile link controls, so it is allowed
// only to the project's own origins.

// TokenParam is the query parameter the SDK reads an end user's token from.
const TokenParam = "__clerk_jwt"

// ClerkScript is the URL of Clerk's browser script on the Frontend API
// host of a Clerk instance: the version of its components that the hosted
// pages and the dashboard load.
func ClerkScript(frontendAPI string) string {
	return "https://" + frontendAPI + "/npm/@clerk/clerk-js@5/dist/clerk.browser.js"
}

// ErrRedirectRefused answers a redirect the project does not allow.
func ErrRedirectRefused(why string) *Error {
	return Errorf(KindInvalid, "redirect_not_allowed", "%s", why)
}

// CheckRedirect returns redirect as a URL if the hosted pages of env may
// send a browser there: an absolute http or https URL without user info
// whose origin is one of the project's allowed origins, or, for a test
// key, on localhost or 127.0.0.1 over http at any port. Anything else is
// refused with the reason.
func (env *Environment) CheckRedirect(redirect string) (*url.URL, error) {
	if redirect == "" {
		return nil, ErrRedirectRefused("the redirect parameter is missing")
	}
	if len(redirect) > MaxURL {
		return nil, Errorf(KindInvalid, "redirect_not_allowed", "the redirect is longer than %d bytes", MaxURL)
	}
	u, err := url.Parse(redirect)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, ErrRedirectRefused("the redirect must be an absolute http or https address")
	}
	origin := u.Scheme + "://" + u.Host
	for _, allowed := range env.Project.AllowedOrigins {
		if strings.EqualFold(origin, allowed) {
			return u, nil
		}
	}
	if env.Mode == ModeTest && u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1") {
		return u, nil
	}
	return nil, ErrRedirectRefused(Quote(origin) + " is not one of the project's allowed origins")
}

// WithToken is redirect with the end user's token added to its query,
// what it had of a query and a fragment kept.
func WithToken(redirect *url.URL, token string) string {
	u := *redirect
	q := u.Query()
	q.Set(TokenParam, token)
	u.RawQuery = q.Encode()
	return u.String()
}
