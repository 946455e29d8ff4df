// Package docs holds the documentation the service itself serves: the
// OpenAPI description of the JSON API (openapi.json, hand-written), which
// web serves at /api/v1/openapi.json and its tests check the API against.
package docs

import _ "embed"

// OpenAPI is openapi.json: the OpenAPI 3.1 description of the JSON API.
//
//go:embed openapi.json
var OpenAPI []byte
