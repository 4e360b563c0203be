package htmlnorm

// info is what the HTML5 tree construction does with an element's start
// tag, as far as the first pass needs to know: the categories of the
// specification ("special", scope boundaries, markers) and the start tags
// that close other elements by themselves.
type info uint32

const (
	fVoid        info = 1 << iota // has no end tag
	fSpecial                      // the "special" category
	fScope                        // bounds "has an element in scope"
	fMarker                       // a marker in the list of active formatting elements
	fPClose                       // closes an open <p> in button scope
	fHeading                      // h1 to h6: closes a heading that is the current node
	fADP                          // address, div, p: passed over when an <li>, <dd> or <dt> looks for one to close
	fP                            // p: closed by the start tags marked fPClose
	fLi                           // li: closes an open <li>
	fDdDt                         // dd, dt: close an open <dd> or <dt>
	fA                            // a: closes an open <a>
	fNobr                         // nobr: closes an open <nobr>
	fButton                       // button: closes an open <button>
	fForm                         // form: ignored inside another form
	fRaw                          // its content is raw text up to its end tag (script, style, textarea, title)
	fScript                       // script: raw text with escape states
	fForeign                      // svg, math: starts foreign content
	fBreakout                     // leaves foreign content
	fIntegration                  // in foreign content: its content is HTML again
	fReject                       // a start tag whose effect the first pass does not follow: left to the rebuild
	fRawLenient                   // raw text too, in a document the first pass only scans (noscript, xmp, …)
	fPlaintext                    // everything after it is text

	// Table structure: where the start tag may stand, and what it holds.
	fCaption
	fColgroup
	fCol
	fSection // tbody, thead, tfoot
	fRow
	fCell // td, th
	fTable
)

// fTablePart is the table structure below <table>: start tags that a
// browser ignores outside a table.
const fTablePart = fCaption | fColgroup | fCol | fSection | fRow | fCell

// elements maps lower-case HTML element names to what their start tags do.
// Names it does not hold are ordinary elements: opened, and closed by their
// own end tag only.
var elements = map[string]info{
	"a":          fA,
	"address":    fSpecial | fPClose | fADP,
	"applet":     fSpecial | fScope | fMarker,
	"area":       fSpecial | fVoid,
	"article":    fSpecial | fPClose,
	"aside":      fSpecial | fPClose,
	"b":          fBreakout,
	"base":       fSpecial | fVoid | fReject, // would change every URL of the page
	"basefont":   fSpecial | fVoid | fReject,
	"bgsound":    fSpecial | fVoid | fReject,
	"big":        fBreakout,
	"blockquote": fSpecial | fPClose | fBreakout,
	"body":       fSpecial | fReject | fBreakout,
	"br":         fSpecial | fVoid | fBreakout,
	"button":     fSpecial | fButton,
	"caption":    fSpecial | fScope | fMarker | fCaption,
	"center":     fSpecial | fPClose | fBreakout,
	"code":       fBreakout,
	"col":        fSpecial | fVoid | fCol,
	"colgroup":   fSpecial | fColgroup,
	"dd":         fSpecial | fPClose | fDdDt | fBreakout,
	"details":    fSpecial | fPClose,
	"dialog":     fPClose,
	"dir":        fSpecial | fPClose,
	"div":        fSpecial | fPClose | fADP | fBreakout,
	"dl":         fSpecial | fPClose | fBreakout,
	"dt":         fSpecial | fPClose | fDdDt | fBreakout,
	"em":         fBreakout,
	"embed":      fSpecial | fVoid | fBreakout,
	"fieldset":   fSpecial | fPClose,
	"figcaption": fSpecial | fPClose,
	"figure":     fSpecial | fPClose,
	"font":       fBreakout, // with color, face or size only; taken as always
	"footer":     fSpecial | fPClose,
	"form":       fSpecial | fPClose | fForm,
	"frame":      fSpecial | fVoid | fReject,
	"frameset":   fSpecial | fReject,
	"h1":         fSpecial | fPClose | fHeading | fBreakout,
	"h2":         fSpecial | fPClose | fHeading | fBreakout,
	"h3":         fSpecial | fPClose | fHeading | fBreakout,
	"h4":         fSpecial | fPClose | fHeading | fBreakout,
	"h5":         fSpecial | fPClose | fHeading | fBreakout,
	"h6":         fSpecial | fPClose | fHeading | fBreakout,
	"head":       fSpecial | fReject | fBreakout,
	"header":     fSpecial | fPClose,
	"hgroup":     fSpecial | fPClose,
	"hr":         fSpecial | fVoid | fPClose | fBreakout,
	"html":       fSpecial | fScope | fReject,
	"i":          fBreakout,
	"iframe":     fSpecial | fReject | fRawLenient,
	"image":      fReject, // a browser makes it an <img>
	"img":        fSpecial | fVoid | fBreakout,
	"input":      fSpecial | fVoid,
	"keygen":     fSpecial | fVoid,
	"li":         fSpecial | fPClose | fLi | fBreakout,
	"link":       fSpecial | fVoid,
	"listing":    fSpecial | fPClose | fBreakout,
	"main":       fSpecial | fPClose,
	"marquee":    fSpecial | fScope | fMarker,
	"math":       fForeign,
	"menu":       fSpecial | fPClose | fBreakout,
	"meta":       fSpecial | fVoid | fBreakout,
	"nav":        fSpecial | fPClose,
	"nobr":       fNobr | fBreakout,
	"noembed":    fSpecial | fReject | fRawLenient,
	"noframes":   fSpecial | fReject | fRawLenient,
	"noscript":   fSpecial | fReject | fRawLenient,
	"object":     fSpecial | fScope | fMarker,
	"ol":         fSpecial | fPClose | fBreakout,
	"optgroup":   fReject,
	"option":     fReject,
	"p":          fSpecial | fPClose | fADP | fP | fBreakout,
	"param":      fSpecial | fVoid,
	"plaintext":  fSpecial | fReject | fPlaintext,
	"pre":        fSpecial | fPClose | fBreakout,
	"rb":         fReject,
	"rp":         fReject,
	"rt":         fReject,
	"rtc":        fReject,
	"ruby":       fBreakout,
	"s":          fBreakout,
	"script":     fSpecial | fRaw | fScript,
	"search":     fSpecial | fPClose,
	"section":    fSpecial | fPClose,
	"select":     fSpecial | fReject,
	"small":      fBreakout,
	"source":     fSpecial | fVoid,
	"span":       fBreakout,
	"strike":     fBreakout,
	"strong":     fBreakout,
	"style":      fSpecial | fRaw,
	"sub":        fBreakout,
	"summary":    fSpecial | fPClose,
	"sup":        fBreakout,
	"svg":        fForeign,
	"table":      fSpecial | fScope | fPClose | fTable | fBreakout,
	"tbody":      fSpecial | fSection,
	"td":         fSpecial | fScope | fMarker | fCell,
	"template":   fSpecial | fScope | fMarker | fReject,
	"textarea":   fSpecial | fRaw,
	"tfoot":      fSpecial | fSection,
	"th":         fSpecial | fScope | fMarker | fCell,
	"thead":      fSpecial | fSection,
	"title":      fSpecial | fRaw | fIntegration, // an integration point in SVG
	"tr":         fSpecial | fRow,
	"track":      fSpecial | fVoid,
	"tt":         fBreakout,
	"u":          fBreakout,
	"ul":         fSpecial | fPClose | fBreakout,
	"var":        fBreakout,
	"wbr":        fSpecial | fVoid,
	"xmp":        fSpecial | fReject | fRawLenient,

	// Integration points of foreign content: SVG's foreignObject and desc
	// (title is above), MathML's text integration points. annotation-xml
	// is one only with some encodings: left to the rebuild.
	"foreignobject":  fIntegration,
	"desc":           fIntegration,
	"mi":             fIntegration,
	"mo":             fIntegration,
	"mn":             fIntegration,
	"ms":             fIntegration,
	"mtext":          fIntegration,
	"annotation-xml": fReject,
	"mglyph":         fReject,
	"malignmark":     fReject,
}

// maxNameLen is the length of the longest name in elements.
const maxNameLen = len("annotation-xml")

// lookup returns what name's start tag does, name in any case.
func lookup(name []byte) info {
	if len(name) > maxNameLen {
		return 0
	}
	var buf [maxNameLen]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return elements[string(buf[:len(name)])]
}
