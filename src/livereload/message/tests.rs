//! The messages written, and the hello found, on valid and hostile input.

use super::*;

const HELLO_7: Incoming = Incoming::Hello {
    official_7: true,
    status: false,
};

#[test]
fn livereload_js_hello_is_found() {
    // What livereload.js sends (its connector's `_onopen`).
    let text = r#"{"command":"hello","protocols":["http://livereload.com/protocols/official-7","http://livereload.com/protocols/official-8","http://livereload.com/protocols/official-9","http://livereload.com/protocols/2.x-origin-version-negotiation","http://livereload.com/protocols/2.x-remote-control"],"ver":"4.0.2"}"#;
    assert_eq!(parse(text), HELLO_7);
}

#[test]
fn white_space_escapes_and_order_do_not_matter() {
    let text = " {\n \"protocols\" : [ 1, null, {\"a\":[true]}, \"systemfd-status-1\",\
        \"http:\\/\\/livereload.com\\/protocols\\/official-7\" ] ,\t\"comm\\u0061nd\" : \"hello\" } \n";
    assert_eq!(
        parse(text),
        Incoming::Hello {
            official_7: true,
            status: true
        }
    );
    assert_eq!(
        parse(r#"{"command":"hello","protocols":[]}"#),
        Incoming::Hello {
            official_7: false,
            status: false
        }
    );
    assert_eq!(
        parse(r#"{"command":"hello"}"#),
        Incoming::Hello {
            official_7: false,
            status: false
        }
    );
}

#[test]
fn other_commands_and_look_alikes_are_other() {
    for text in [
        r#"{"command":"info","plugins":{},"url":"http://x/"}"#,
        r#"{"command":"url","url":"\"command\":\"hello\""}"#,
        r#"{"command":"info","note":{"command":"hello"}}"#,
        r#"{"command":"hello","command":"info"}"#,
        r#"{"command":["hello"]}"#,
        r#"["hello"]"#,
        r#""hello""#,
        "{}",
        "",
        "!!ver:1.6",
    ] {
        assert_eq!(parse(text), Incoming::Other, "{text}");
    }
    // The last of two members counts, as with JSON.parse.
    assert_eq!(
        parse(
            r#"{"command":"info","command":"hello","protocols":["x"],"protocols":["http://livereload.com/protocols/official-7"]}"#
        ),
        HELLO_7
    );
}

#[test]
fn malformed_json_is_other() {
    for text in [
        r#"{"command":"hello""#,
        r#"{"command":"hello",}"#,
        r#"{"command":"hello"} x"#,
        r#"{"command":"hel"#,
        r#"{"command":"hello","protocols":[}"#,
        r#"{"command":"hello","x":01}"#,
        r#"{"command":"hello","x":1.}"#,
        r#"{"command":"hello","x":tru}"#,
        r#"{"command":"hello","x":"\q"}"#,
        r#"{"command":"hello","x":"\u12"}"#,
        "{\"command\":\"hello\",\"x\":\"a\nb\"}",
        r#"{command:"hello"}"#,
    ] {
        assert_eq!(parse(text), Incoming::Other, "{text}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!(
        r#"{{"command":"hello","x":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(parse(&deep), Incoming::Other);
    let fine = format!(
        r#"{{"command":"hello","protocols":["{PROTOCOL_7}"],"x":{}{}}}"#,
        "[".repeat(20),
        "]".repeat(20)
    );
    assert_eq!(parse(&fine), HELLO_7);
}

#[test]
fn surrogates_decode_and_lone_ones_do_not_fail() {
    assert_eq!(
        parse(
            r#"{"x":"\ud83d\ude00 \ud800 \udc00","command":"hello","protocols":["http://livereload.com/protocols/official-7"]}"#
        ),
        HELLO_7
    );
}

#[test]
fn the_server_messages_are_exact() {
    assert_eq!(
        hello(false),
        r#"{"command":"hello","protocols":["http://livereload.com/protocols/official-7"],"serverName":"systemfd"}"#
    );
    assert_eq!(
        hello(true),
        r#"{"command":"hello","protocols":["http://livereload.com/protocols/official-7","systemfd-status-1"],"serverName":"systemfd"}"#
    );
    assert_eq!(
        RELOAD,
        r#"{"command":"reload","path":"/","liveCSS":false,"liveImg":false}"#
    );
    assert_eq!(
        status("building", None),
        r#"{"command":"systemfd-status","state":"building"}"#
    );
}

#[test]
fn strings_are_escaped() {
    let text = status(
        "failed",
        Some((
            "a \"quote\" \\ back",
            "line\n\ttab\r\u{1}\u{7f}\u{2028}é</script>",
        )),
    );
    assert_eq!(
        text,
        "{\"command\":\"systemfd-status\",\"state\":\"failed\",\
         \"cause\":\"a \\\"quote\\\" \\\\ back\",\
         \"output\":\"line\\n\\ttab\\r\\u0001\\u007f\\u2028é</script>\"}"
    );
}
