// Package auth decides who is calling lbd's Octavia API and what they may
// do, the way an OpenStack service does it.
//
// An Authenticator turns a request into a Caller: Keystone validates each
// X-Auth-Token (GET /v3/auth/tokens with lbd's own service token, results
// cached until the token expires), a static token compares against a secret
// from a file or the environment, and an open API makes every caller an
// administrator (Octavia's auth_strategy = noauth). Middleware answers 401
// for a request without a valid token, as keystonemiddleware does.
//
// Caller carries the token's project and roles and answers Octavia's
// default policy questions (octavia/policies/base.py): may this caller read,
// or write, objects of that project, or read every project's.
//
// It must not import any other lbd package.
package auth
