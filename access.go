package dream

// Access is the credential a route takes: every route of every surface
// (the customer-facing API, the management API, the dashboard, the hosted
// pages, the cluster's internal endpoint) is declared with one, where it is
// mounted, and the isolation tests try each route with the credentials its
// class must refuse.
type Access int

// The credential classes. The zero value is no declaration at all, which
// the route-table test refuses.
const (
	// AccessUndeclared is a route whose credential nobody declared.
	AccessUndeclared Access = iota
	// AccessNone routes take no credential: health, documents, public
	// images, and dev mode's own pages.
	AccessNone
	// AccessPublishable routes take a project's publishable key (or its
	// secret key) and read only what a front end may see: the catalogue,
	// a cart's checkout, the hosted pages of the key's project.
	AccessPublishable
	// AccessSecret routes take a project's secret key: the developer's
	// backend.
	AccessSecret
	// AccessEndUser routes take a key and an end-user token issued for
	// that key's project.
	AccessEndUser
	// AccessDeveloper routes take a developer's session: the management
	// API and the dashboard.
	AccessDeveloper
	// AccessAdmin routes take the session of a developer named in the
	// operator's admin list.
	AccessAdmin
	// AccessCluster routes take a request signed with the cluster secret:
	// the primary's internal write endpoint.
	AccessCluster
	// AccessWebhook routes take a payment provider's signed event.
	AccessWebhook
)

// String is the class's name in route tables and test names.
func (a Access) String() string {
	switch a {
	case AccessNone:
		return "none"
	case AccessPublishable:
		return "publishable key"
	case AccessSecret:
		return "secret key"
	case AccessEndUser:
		return "end-user token"
	case AccessDeveloper:
		return "developer session"
	case AccessAdmin:
		return "admin"
	case AccessCluster:
		return "cluster-internal"
	case AccessWebhook:
		return "webhook signature"
	}
	return "undeclared"
}

// Route is one route of a surface: its method, its path pattern in
// httprouter's syntax (":name" for a segment, "*name" for the rest), the
// credential it takes and the largest body it reads.
type Route struct {
	Method, Path string
	Access       Access
	// MaxBody bounds the request's body in bytes: a larger one is refused
	// with KindTooLarge before the credential is read.
	MaxBody int64
}
