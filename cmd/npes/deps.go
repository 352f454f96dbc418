//go:build tools

package main

import (
	_ "github.com/boombuler/barcode"
	_ "github.com/cloudflare/circl/sign/mldsa/mldsa65"
	_ "github.com/emersion/go-message"
	_ "github.com/emersion/go-smtp"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jung-kurt/gofpdf"
	_ "github.com/pdfcpu/pdfcpu/pkg/api"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/transparency-dev/merkle"
	_ "golang.org/x/image/font/gofont/goregular"
	_ "golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite"
)
