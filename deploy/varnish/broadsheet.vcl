# Varnish in front of Broadsheet composers: caches what the composer marks
# public, for as long as its Cache-Control says, and drops pages by
# surrogate key when the composer's purger (-purge-url) sends
#   PURGE / with "xkey: score?match=m0042 score?*"
# Needs varnish-modules (the xkey vmod). README: "Behind a CDN".
vcl 4.1;

import xkey;

# The composers (one here; a directors.round_robin() of several behind one
# load balancer address works the same). cdn/varnish_test.go replaces this
# block's host and port with the composer it starts.
backend default {
    .host = "127.0.0.1";
    .port = "8080";
    .first_byte_timeout = 5s;
}

# Who may purge: the composers. Keep it to their addresses.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey) {
            return (synth(400, "PURGE needs an xkey header"));
        }
        set req.http.n-gone = xkey.purge(req.http.xkey);
        return (synth(200, "Invalidated " + req.http.n-gone + " objects"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Only the reader cookie matters to the composer; others (analytics)
    # would make every request a cache miss. A signed-in reader's request
    # still goes through the cache: the composer marks every page it
    # makes for a reader "private, no-store", which Varnish never stores,
    # and a public page is the same for everyone.
    if (req.http.Cookie) {
        set req.http.Cookie = ";" + req.http.Cookie;
        set req.http.Cookie = regsuball(req.http.Cookie, "; +", ";");
        set req.http.Cookie = regsuball(req.http.Cookie, ";(bs_reader)=", "; \1=");
        set req.http.Cookie = regsuball(req.http.Cookie, ";[^ ][^;]*", "");
        set req.http.Cookie = regsuball(req.http.Cookie, "^[; ]+|[; ]+$", "");
        if (req.http.Cookie == "") {
            unset req.http.Cookie;
        }
    }
    # Skip the built-in vcl_recv, which passes every request with a
    # cookie.
    return (hash);
}

sub vcl_hash {
    # The reader cookie is part of the hash: a reader's request never
    # finds another reader's (or an anonymous) uncacheable marker, and
    # public pages are cached per URL for anonymous readers.
    hash_data(req.url);
    if (req.http.host) {
        hash_data(req.http.host);
    } else {
        hash_data(server.ip);
    }
    if (req.http.Cookie) {
        hash_data(req.http.Cookie);
    }
    return (lookup);
}

sub vcl_backend_response {
    # The composer's Cache-Control decides. Its "no-store" (a page not
    # wholly made from cache yet) and "private, no-store" (a reader's
    # page) are not stored; a short hit-for-miss keeps the next request
    # free to store the cacheable page that follows.
    if (beresp.http.Cache-Control ~ "(?i)(no-store|private)") {
        set beresp.ttl = 1s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # Surrogate-Key is for CDNs that read it; xkey stays on the object
    # (the vmod indexes it) and both are dropped in vcl_deliver.
}

sub vcl_deliver {
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
