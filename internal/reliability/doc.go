// Package reliability is npes's reliability and security suite:
// crash durability under kill -9, several nodes on one PostgreSQL, database
// faults through a cutting TCP proxy, TLS protocol and suite checks with
// openssl, the access-control matrix over every route of openapi.yaml,
// hostile input over HTTP, and fuzz targets for the HTTP request parsers.
//
// The package holds tests only. RELIABILITY.md at the repository root lists
// each scenario, its pass criterion and how to run it larger
// (NPES_RELIABILITY_TRIALS, NPES_RELIABILITY_SCALE, NPES_RELIABILITY_SEED).
package reliability
