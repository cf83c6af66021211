//! Mistakes with the Inngest attributes are compile errors that say what to change, one
//! error each (`trybuild`; the expected messages are in `tests/ui/*.stderr`).

#[test]
fn mistakes_with_the_inngest_attributes_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
