// The tree checks of the strict scan: which element a start tag opens and
// whether a browser opens it where it stands, closing nothing.

package htmlnorm

// kindOf is what an element holds.
func kindOf(in info) kind {
	switch {
	case in&fTable != 0:
		return kTable
	case in&fSection != 0:
		return kSection
	case in&fRow != 0:
		return kRow
	case in&fColgroup != 0:
		return kColgroup
	}
	return kFlow
}

// allowed reports whether a browser opens an HTML element of info in where
// it stands, closing nothing.
func (s *scanner) allowed(in info) bool {
	t := s.top()
	if t != nil {
		switch t.kind {
		case kTable:
			return in&fTablePart != 0
		case kSection:
			return in&(fRow|fCell) != 0
		case kRow:
			return in&fCell != 0
		case kColgroup:
			return in&fCol != 0
		}
	}
	switch {
	case in&fReject != 0:
		return false
	case in&fTablePart != 0:
		// Outside a table of its own only where the page places it: at
		// the top (a fragment of rows for a page's table).
		return t == nil
	case in&fPClose != 0 && s.inScope(fP, true):
		return false
	case in&fHeading != 0 && t != nil && t.info&fHeading != 0:
		return false
	case in&fLi != 0:
		return s.noListItem(fLi)
	case in&fDdDt != 0:
		return s.noListItem(fDdDt)
	case in&fA != 0:
		return !s.beforeMarker(fA)
	case in&fNobr != 0:
		return !s.inScope(fNobr, false)
	case in&fButton != 0:
		return !s.inScope(fButton, false)
	case in&fForm != 0:
		for _, e := range s.stack {
			if e.info&fForm != 0 {
				return false
			}
		}
	}
	return true
}

// inScope reports whether an element carrying flag is open above the
// nearest scope boundary (with button, the button scope).
func (s *scanner) inScope(flag info, button bool) bool {
	for k := len(s.stack) - 1; k >= 0; k-- {
		e := &s.stack[k]
		if e.info&flag != 0 {
			return true
		}
		if e.info&fScope != 0 || e.kind == kIntegration || (button && e.info&fButton != 0) {
			return false
		}
	}
	return false
}

// beforeMarker reports whether an element carrying flag is open above the
// last marker of the list of active formatting elements.
func (s *scanner) beforeMarker(flag info) bool {
	for k := len(s.stack) - 1; k >= 0; k-- {
		e := &s.stack[k]
		if e.info&flag != 0 {
			return true
		}
		if e.info&fMarker != 0 {
			return false
		}
	}
	return false
}

// noListItem reports whether an <li> (flag fLi) or a <dd> or <dt> (fDdDt)
// closes nothing where it stands. A browser looks down the open elements
// for one to close, passing over address, div and p and ordinary elements,
// and stops at any other special one; an item that finds none of the
// fragment's own would go on looking into the page, and could close one of
// its items and the elements passed over with it.
func (s *scanner) noListItem(flag info) bool {
	for k := len(s.stack) - 1; k >= 0; k-- {
		e := &s.stack[k]
		switch {
		case e.info&flag != 0:
			return false
		case e.info&fSpecial != 0 && e.info&fADP == 0:
			return true
		}
	}
	return len(s.stack) == 0
}
