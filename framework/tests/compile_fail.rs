//! Mistakes with `#[injectable]` and `#[contribute]` are compile errors that say what to
//! change (`trybuild`; the expected messages are in `tests/ui/*.stderr`).

#[test]
fn mistakes_with_injectable_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
