// Package docs holds the API reference that the server publishes: the
// OpenAPI 3.1 document of the management API and the customer API, served
// at GET /openapi.json and held to the router's table by a test in edge.
package docs

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document, as JSON.
//
//go:embed openapi.json
var OpenAPI []byte
