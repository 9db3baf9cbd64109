// Package netnstest is the scaffolding shared by the tests that run in
// throw-away Linux network namespaces (link, unet, cmd/ustack): skipping
// unless the test runs as root with the tools it needs, creating a
// namespace that t.Cleanup deletes, running commands and Go code inside
// it, veth pairs between namespaces, and waiting for an interface to come
// up. It is for tests only and imports no other ustack package.
package netnstest
