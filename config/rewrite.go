package config

import (
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// HCL's native syntax allows at most one argument in a single-line block, but
// SPEC §2 writes flow endpoints as
//
//	from { connector = "bus" operation = "order.updated" }
//
// splitSingleLine makes such blocks legal by inserting newlines: after the
// opening brace, before every further argument on the same line, and before
// the closing brace. It returns the source unchanged (and a nil srcMap) when
// nothing needs splitting. Ranges the parser reports against the rewritten
// source are mapped back to the original with srcMap.rng, so every message
// still points at the line and column the user wrote.
func splitSingleLine(src []byte, filename string) ([]byte, *srcMap) {
	toks, diags := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return src, nil // let the parser report it
	}

	type frame struct {
		body     bool // a block body, not an expression bracket
		openEnd  int  // byte offset just past the opening brace
		openNL   bool // the opening brace is followed by a newline
		split    bool // a newline was inserted inside this body
		started  bool // the current item has tokens
		assigned bool // the current item has seen "="
	}
	stack := []frame{{body: true, openNL: true}} // the file body
	var ins []int

	// significant returns the index of the next token at or after i that
	// is not a block comment (line comments end items, like newlines).
	significant := func(i int) int {
		for i < len(toks) && toks[i].Type == hclsyntax.TokenComment && !endsLine(toks[i].Bytes) {
			i++
		}
		return i
	}

	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		top := &stack[len(stack)-1]
		switch tok.Type {
		case hclsyntax.TokenOBrace:
			body := top.body && top.started && !top.assigned
			top.started = true
			next := significant(i + 1)
			nl := next < len(toks) && (toks[next].Type == hclsyntax.TokenNewline ||
				toks[next].Type == hclsyntax.TokenComment)
			stack = append(stack, frame{body: body, openEnd: tok.Range.End.Byte, openNL: nl})
			continue
		case hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			top.started = true
			stack = append(stack, frame{})
			continue
		case hclsyntax.TokenCBrace:
			if len(stack) == 1 {
				continue // unbalanced; the parser reports it
			}
			if top.body && top.split {
				if !top.openNL {
					ins = append(ins, top.openEnd)
				}
				prev := i - 1
				for prev >= 0 && toks[prev].Type == hclsyntax.TokenComment && !endsLine(toks[prev].Bytes) {
					prev--
				}
				if prev >= 0 && toks[prev].Type != hclsyntax.TokenNewline && !endsLine(toks[prev].Bytes) {
					ins = append(ins, tok.Range.Start.Byte)
				}
			}
			stack = stack[:len(stack)-1]
			stack[len(stack)-1].started = true
			continue
		case hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if len(stack) > 1 && !top.body {
				stack = stack[:len(stack)-1]
			}
			stack[len(stack)-1].started = true
			continue
		case hclsyntax.TokenNewline, hclsyntax.TokenEOF:
			top.started, top.assigned = false, false
			continue
		case hclsyntax.TokenComment:
			if endsLine(tok.Bytes) {
				top.started, top.assigned = false, false
			}
			continue
		}
		if !top.body {
			continue
		}
		if tok.Type == hclsyntax.TokenIdent && top.started && top.assigned {
			if n := significant(i + 1); n < len(toks) && toks[n].Type == hclsyntax.TokenEqual {
				ins = append(ins, tok.Range.Start.Byte)
				top.split = true
				top.started, top.assigned = false, false
			}
		}
		if tok.Type == hclsyntax.TokenEqual {
			top.assigned = true
		}
		top.started = true
	}
	if len(ins) == 0 {
		return src, nil
	}
	sort.Ints(ins)
	out := make([]byte, 0, len(src)+len(ins))
	last := 0
	for _, off := range ins {
		out = append(out, src[last:off]...)
		out = append(out, '\n')
		last = off
	}
	out = append(out, src[last:]...)
	return out, &srcMap{orig: src, ins: ins}
}

func endsLine(b []byte) bool { return len(b) > 0 && b[len(b)-1] == '\n' }

// srcMap maps positions in source rewritten by splitSingleLine back to the
// original source. A nil *srcMap is the identity.
type srcMap struct {
	orig []byte
	ins  []int // original byte offsets where a newline was inserted, ascending
}

// pos maps a byte offset in the rewritten source to a position in the original.
func (m *srcMap) pos(p hcl.Pos) hcl.Pos {
	b := p.Byte
	n := sort.Search(len(m.ins), func(j int) bool { return m.ins[j]+j >= b })
	b -= n
	b = max(0, min(b, len(m.orig)))
	line, start := 1, 0
	for i := 0; i < b; i++ {
		if m.orig[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return hcl.Pos{Line: line, Column: utf8.RuneCount(m.orig[start:b]) + 1, Byte: b}
}

// rng maps a range in the rewritten source to the original.
func (m *srcMap) rng(r hcl.Range) hcl.Range {
	if m == nil {
		return r
	}
	return hcl.Range{Filename: r.Filename, Start: m.pos(r.Start), End: m.pos(r.End)}
}

// diags maps every range in ds back to the original source, in place.
func (m *srcMap) diags(ds hcl.Diagnostics) {
	if m == nil {
		return
	}
	for _, d := range ds {
		if d.Subject != nil {
			r := m.rng(*d.Subject)
			d.Subject = &r
		}
		if d.Context != nil {
			r := m.rng(*d.Context)
			d.Context = &r
		}
	}
}
