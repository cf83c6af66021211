//! `#[inngest_module::function]` and its shorthands `#[on_event]` / `#[on_cron]`, the
//! flow-control modifier attributes they absorb (`#[throttle(..)]`, `#[retries(3)]`, …), and
//! `#[derive(EventPayload)]`.
//!
//! They go on methods of an `#[injectable]` impl and follow the framework's contribution
//! protocol: each generates `__contribution_<method>()`, which `#[injectable]` attaches to
//! the provider, so the Inngest module discovers the function at start-up. Outside such an
//! impl (no `#[injectable]` mark on the method) they are a compile error, and an error in
//! their arguments is the only error reported.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, ImplItemFn, Lit, Token};

/// The arguments of the main attributes besides the modifiers.
const TRIGGERS_AND_NAMES: [&str; 5] = ["id", "name", "event", "if", "cron"];

/// ` (did you mean `x`?)` for the allowed name closest to `name`, if one is close.
fn suggestion(name: &str, allowed: &[&str]) -> String {
    allowed
        .iter()
        .map(|candidate| (strsim::osa_distance(name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2 && *distance < candidate.len())
        .min()
        .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
        .unwrap_or_default()
}

/// Modifier attributes absorbed by the main attribute placed above them.
const MODIFIERS: [&str; 15] = [
    "retries",
    "checkpointing",
    "concurrency",
    "rate_limit",
    "throttle",
    "debounce",
    "batch",
    "priority",
    "idempotency",
    "timeouts",
    "singleton",
    "cancel_on",
    "on_failure",
    "on_cancel",
    "middleware",
];

/// An argument's value: a literal, a nested list, an expression on `self` (a value read
/// from the provider, e.g. from its injected config), or a type (an event payload type).
enum Value {
    Lit(Lit),
    List(Vec<Arg>),
    Expr(Box<syn::Expr>),
    Type(Box<syn::Type>),
}

struct Arg {
    key: Option<Ident>,
    value: Value,
    span: Span,
}

/// A value after `=` or alone: a literal, `self…`, or a type.
fn parse_value(input: ParseStream) -> syn::Result<Value> {
    if input.peek(Lit) {
        Ok(Value::Lit(input.parse()?))
    } else if input.peek(Token![self]) {
        Ok(Value::Expr(Box::new(input.parse()?)))
    } else {
        Ok(Value::Type(Box::new(input.parse()?)))
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let span = input.span();
        let keyed = {
            let fork = input.fork();
            Ident::parse_any(&fork).is_ok()
                && (fork.peek(Token![=]) || fork.peek(syn::token::Paren))
                && !input.peek(Token![self])
        };
        if !keyed {
            return Ok(Arg {
                key: None,
                value: parse_value(input)?,
                span,
            });
        }
        let key = Ident::parse_any(input)?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Ok(Arg {
                key: Some(key),
                value: parse_value(input)?,
                span,
            })
        } else {
            let content;
            syn::parenthesized!(content in input);
            let args = Punctuated::<Arg, Token![,]>::parse_terminated(&content)?;
            Ok(Arg {
                key: Some(key),
                value: Value::List(args.into_iter().collect()),
                span,
            })
        }
    }
}

fn parse_args(tokens: TokenStream2) -> syn::Result<Vec<Arg>> {
    Ok(Punctuated::<Arg, Token![,]>::parse_terminated
        .parse2(tokens)?
        .into_iter()
        .collect())
}

/// A literal string, for what must be known at compile time (the function id).
fn lit_str(arg: &Arg) -> syn::Result<String> {
    match &arg.value {
        Value::Lit(Lit::Str(s)) => Ok(s.value()),
        _ => Err(syn::Error::new(
            arg.span,
            "expected a string, e.g. \"order.created\"",
        )),
    }
}

/// A string: a literal, or an expression on `self` (anything `ToString`).
fn string(arg: &Arg) -> syn::Result<TokenStream2> {
    match &arg.value {
        Value::Lit(Lit::Str(s)) => Ok(quote!(#s)),
        Value::Expr(expr) => Ok(quote!(::std::string::ToString::to_string(&(#expr)))),
        _ => Err(syn::Error::new(
            arg.span,
            "expected a string, e.g. \"1m\", or a value read from the provider, e.g. `self.config.period`",
        )),
    }
}

/// An event name: a literal, an expression on `self`, or an [`EventPayload`] type.
fn event_name(arg: &Arg) -> syn::Result<TokenStream2> {
    match &arg.value {
        Value::Type(ty) => Ok(quote!(<#ty as ::inngest_module::EventPayload>::NAME)),
        Value::Lit(Lit::Str(_)) | Value::Expr(_) => string(arg),
        _ => Err(syn::Error::new(
            arg.span,
            "expected an event name, e.g. \"order.created\", or a payload type that derives EventPayload, e.g. `OrderCreated`",
        )),
    }
}

/// A whole number (`u32`): a literal, or an expression on `self`.
fn int(arg: &Arg) -> syn::Result<TokenStream2> {
    match &arg.value {
        Value::Lit(Lit::Int(i)) => {
            let value: u32 = i.base10_parse()?;
            Ok(quote!(#value))
        }
        Value::Expr(expr) => Ok(quote!((#expr))),
        _ => Err(syn::Error::new(
            arg.span,
            "expected a whole number, or a value read from the provider, e.g. `self.config.limit`",
        )),
    }
}

fn key_name(arg: &Arg) -> String {
    arg.key
        .as_ref()
        .map(|k| k.unraw().to_string())
        .unwrap_or_default()
}

/// Named fields of a nested list, checked against the allowed names.
struct Fields<'a> {
    what: &'a str,
    args: &'a [Arg],
}

impl<'a> Fields<'a> {
    fn new(what: &'a str, arg: &'a Arg, allowed: &[&str]) -> syn::Result<Self> {
        let Value::List(args) = &arg.value else {
            return Err(syn::Error::new(
                arg.span,
                format!("expected `{what}({} = ...)`", allowed.join(" = ..., ")),
            ));
        };
        for field in args {
            if field.key.is_none() {
                return Err(syn::Error::new(
                    field.span,
                    format!(
                        "`{what}` takes named arguments: {what}({})",
                        allowed
                            .iter()
                            .map(|name| format!("{name} = ..."))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let name = key_name(field);
            if !allowed.contains(&name.as_str()) {
                return Err(syn::Error::new(
                    field.span,
                    format!(
                        "unknown `{what}` field `{name}`{}; use {}",
                        suggestion(&name, allowed),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(Self { what, args })
    }

    fn get(&self, name: &str) -> Option<&'a Arg> {
        self.args.iter().find(|a| key_name(a) == name)
    }

    fn string(&self, name: &str) -> syn::Result<TokenStream2> {
        Ok(match self.get(name) {
            Some(arg) => {
                let value = string(arg)?;
                quote!(::std::option::Option::Some(::std::string::String::from(#value)))
            }
            None => quote!(::std::option::Option::None),
        })
    }

    fn required(
        &self,
        name: &str,
        span: Span,
        read: fn(&Arg) -> syn::Result<TokenStream2>,
    ) -> syn::Result<TokenStream2> {
        self.get(name)
            .map(read)
            .transpose()?
            .ok_or_else(|| syn::Error::new(span, format!("`{}` needs `{name} = ...`", self.what)))
    }

    fn required_string(&self, name: &str, span: Span) -> syn::Result<TokenStream2> {
        let value = self.required(name, span, string)?;
        Ok(quote!(::std::string::String::from(#value)))
    }

    fn required_int(&self, name: &str, span: Span) -> syn::Result<TokenStream2> {
        self.required(name, span, int)
    }

    /// A literal string (for choices such as `mode` and `scope`).
    fn literal(&self, name: &str) -> syn::Result<Option<String>> {
        self.get(name).map(lit_str).transpose()
    }
}

/// Declares an Inngest function on a method of an `#[injectable]` impl.
///
/// ```ignore
/// #[inngest::function(id = "process-order", event = "order.created", retries = 3, concurrency = 10)]
/// async fn process_order(&self, ctx: Ctx<OrderCreated>) -> inngest::Result<Receipt> { ... }
/// ```
///
/// Arguments: `id` (default: the method name with `-`), `name`, `event` (repeatable),
/// `if` (CEL filter on the event triggers), `cron` (repeatable), `retries`,
/// `concurrency = N` or `concurrency(limit, key, scope)`, `rate_limit(limit, period, key)`,
/// `throttle(limit, period, burst, key)`, `debounce = "5s"` or `debounce(period, key, timeout)`,
/// `batch(max_size, timeout, key, if)`, `priority = "<CEL>"`, `idempotency = "<CEL>"`,
/// `timeouts(start, finish)`, `singleton(mode, key)`, `cancel_on(event, if, timeout)`
/// (repeatable), `on_failure = "method"`, `on_cancel = "method"`,
/// `middleware(self.a, self.b)`. Each may also be written as its own attribute below this
/// one (`#[throttle(limit = 5, period = "1s")]`, `#[retries(3)]`).
///
/// An event is a string or a payload type that derives `EventPayload`
/// (`event = OrderCreated`). Every value but `id`, `singleton(mode)` and
/// `concurrency(scope)` may also be an expression on `self`, evaluated once at start-up:
/// `cron = self.config.cleanup_cron`, `concurrency = self.limits.emails`.
#[proc_macro_attribute]
pub fn function(args: TokenStream, input: TokenStream) -> TokenStream {
    entry(args, input, Shorthand::None)
}

/// Expands one of the main attributes; after an error, emits the error alone (see
/// [`fallback`]).
fn entry(args: TokenStream, input: TokenStream, shorthand: Shorthand) -> TokenStream {
    let input = TokenStream2::from(input);
    expand(args.into(), input.clone(), shorthand)
        .unwrap_or_else(|error| fallback(error, input))
        .into()
}

/// After an error: the error, the method unchanged (without modifiers or the
/// `#[injectable]` mark) and a placeholder `__contribution_<method>`, so that the error is
/// the only one the compiler reports (no "no function `__contribution_…`" after it).
fn fallback(error: syn::Error, input: TokenStream2) -> TokenStream2 {
    let error = error.to_compile_error();
    let Ok(mut method) = syn::parse2::<ImplItemFn>(input.clone()) else {
        return quote!(#error #input);
    };
    method
        .attrs
        .retain(|attr| !is_modifier(attr) && !is_mark(attr));
    let contribution = format_ident!("__contribution_{}", method.sig.ident);
    quote! {
        #error
        #method
        #[doc(hidden)]
        pub fn #contribution() -> ::inngest_module::__private::Contribution<Self> {
            ::core::unreachable!("this function did not compile")
        }
    }
}

/// Whether `attr` is the mark `#[injectable]` leaves below contribution attributes.
fn is_mark(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "in_injectable")
}

/// Shorthand for an event-triggered function: `#[on_event("order.created")]` (more
/// arguments as in `#[function]`).
#[proc_macro_attribute]
pub fn on_event(args: TokenStream, input: TokenStream) -> TokenStream {
    entry(args, input, Shorthand::Event)
}

/// Shorthand for a cron-triggered function: `#[on_cron("TZ=Europe/Paris 0 3 * * *")]`.
#[proc_macro_attribute]
pub fn on_cron(args: TokenStream, input: TokenStream) -> TokenStream {
    entry(args, input, Shorthand::Cron)
}

macro_rules! modifier {
    ($($name:ident),*) => {$(
        #[doc = concat!("Modifier absorbed by `#[function]`, `#[on_event]` or `#[on_cron]` placed above it: `#[", stringify!($name), "(...)]`.")]
        #[proc_macro_attribute]
        pub fn $name(_args: TokenStream, input: TokenStream) -> TokenStream {
            let error = syn::Error::new(
                Span::call_site(),
                concat!("#[", stringify!($name), "] needs #[inngest::function(...)] (or #[on_event]/#[on_cron]) above it on the same method"),
            )
            .to_compile_error();
            let input = TokenStream2::from(input);
            quote!(#error #input).into()
        }
    )*};
}

modifier!(
    retries,
    checkpointing,
    concurrency,
    rate_limit,
    throttle,
    debounce,
    batch,
    priority,
    idempotency,
    timeouts,
    singleton,
    cancel_on,
    on_failure,
    on_cancel,
    middleware
);

#[derive(Clone, Copy)]
enum Shorthand {
    None,
    Event,
    Cron,
}

fn is_modifier(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| MODIFIERS.contains(&s.ident.to_string().as_str()))
}

fn expand(
    args: TokenStream2,
    input: TokenStream2,
    shorthand: Shorthand,
) -> syn::Result<TokenStream2> {
    let mut method: ImplItemFn = syn::parse2(input)?;
    let marked = method.attrs.iter().any(is_mark);
    method.attrs.retain(|attr| !is_mark(attr));
    if !marked {
        return Err(syn::Error::new(
            Span::call_site(),
            "an Inngest function must be a method of an `#[injectable]` impl: add #[injectable] above the `impl` block (without it the function is never served)",
        ));
    }
    if method.sig.receiver().is_none() || method.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            method.sig.span(),
            "an Inngest function is an `async fn name(&self, ctx: Ctx<Payload>) -> inngest::Result<Output>`",
        ));
    }
    let mut all = parse_args(args)?;
    // Absorb the modifier attributes written below.
    let mut kept = Vec::new();
    for attr in std::mem::take(&mut method.attrs) {
        if !is_modifier(&attr) {
            kept.push(attr);
            continue;
        }
        let name = attr
            .path()
            .segments
            .last()
            .map(|s| s.ident.clone())
            .ok_or_else(|| syn::Error::new(attr.span(), "empty attribute"))?;
        let inner = match &attr.meta {
            syn::Meta::List(list) => parse_args(list.tokens.clone())?,
            _ => {
                return Err(syn::Error::new(
                    attr.span(),
                    format!("write #[{name}(...)]"),
                ));
            }
        };
        let span = attr.span();
        let mut inner = inner;
        let value = match inner.as_slice() {
            [
                Arg {
                    key: None,
                    value: Value::Lit(_) | Value::Expr(_) | Value::Type(_),
                    ..
                },
            ] => inner.remove(0).value,
            _ => Value::List(inner),
        };
        all.push(Arg {
            key: Some(name),
            value,
            span,
        });
    }
    method.attrs = kept;

    let ident = method.sig.ident.clone();
    let mut id = ident.to_string().replace('_', "-");
    let mut statements = Vec::new();
    let mut events = Vec::new();
    let mut condition: Option<TokenStream2> = None;
    let mut on_failure: Option<Ident> = None;
    let mut on_cancel: Option<Ident> = None;
    let mut middleware = Vec::new();
    for arg in &all {
        let key = key_name(arg);
        let key = if arg.key.is_none() {
            match shorthand {
                Shorthand::Event => "event".to_string(),
                Shorthand::Cron => "cron".to_string(),
                Shorthand::None => {
                    return Err(syn::Error::new(arg.span, "expected `name = value`"));
                }
            }
        } else {
            key
        };
        match key.as_str() {
            "id" => {
                id = lit_str(arg).map_err(|_| {
                    syn::Error::new(
                        arg.span,
                        "the function id is a string written here, e.g. id = \"process-order\" (it names the function's runs on the server, so it cannot come from config)",
                    )
                })?
            }
            "name" => {
                let v = string(arg)?;
                statements.push(quote!(options = options.name(#v);));
            }
            "event" => events.push(event_name(arg)?),
            "if" => condition = Some(string(arg)?),
            "cron" => {
                let v = string(arg)?;
                statements.push(quote!(options = options.cron(#v);));
            }
            "retries" => {
                let v = int(arg)?;
                statements.push(quote!(options = options.retries(#v);));
            }
            "priority" => {
                let v = string(arg)?;
                statements.push(quote!(options = options.priority(#v);));
            }
            "checkpointing" => {
                let v = checkpointing_value(arg)?;
                statements.push(quote!(options = options.checkpointing(#v);));
            }
            "idempotency" => {
                let v = string(arg)?;
                statements.push(quote!(options = options.idempotency(#v);));
            }
            "on_failure" => on_failure = Some(handler_method(arg, "on_failure")?),
            "on_cancel" => on_cancel = Some(handler_method(arg, "on_cancel")?),
            "middleware" => middleware.extend(middleware_exprs(arg)?),
            "concurrency" => statements.push(concurrency_statement(arg)?),
            "rate_limit" => {
                let f = Fields::new("rate_limit", arg, &["limit", "period", "key"])?;
                let limit = f.required_int("limit", arg.span)?;
                let period = f.required_string("period", arg.span)?;
                let key = f.string("key")?;
                statements.push(quote!(options.rate_limit = Some(::inngest_module::RateLimit { limit: #limit, period: #period, key: #key });));
            }
            "throttle" => {
                let f = Fields::new("throttle", arg, &["limit", "period", "burst", "key"])?;
                let limit = f.required_int("limit", arg.span)?;
                let period = f.required_string("period", arg.span)?;
                let burst = match f.get("burst") {
                    Some(b) => {
                        let b = int(b)?;
                        quote!(Some(#b))
                    }
                    None => quote!(None),
                };
                let key = f.string("key")?;
                statements.push(quote!(options.throttle = Some(::inngest_module::Throttle { limit: #limit, period: #period, burst: #burst, key: #key });));
            }
            "debounce" => {
                if let Value::Lit(_) | Value::Expr(_) = arg.value {
                    let period = string(arg)?;
                    statements.push(quote!(options = options.debounce(#period);));
                } else {
                    let f = Fields::new("debounce", arg, &["period", "key", "timeout"])?;
                    let period = f.required_string("period", arg.span)?;
                    let key = f.string("key")?;
                    let timeout = f.string("timeout")?;
                    statements.push(quote!(options.debounce = Some(::inngest_module::Debounce { period: #period, key: #key, timeout: #timeout });));
                }
            }
            "batch" | "batch_events" => {
                let f = Fields::new("batch", arg, &["max_size", "timeout", "key", "if"])?;
                let max_size = f.required_int("max_size", arg.span)?;
                let timeout = f.required_string("timeout", arg.span)?;
                let key = f.string("key")?;
                let cond = f.string("if")?;
                statements.push(quote!(options.batch_events = Some(::inngest_module::BatchEvents { max_size: #max_size, timeout: #timeout, key: #key, condition: #cond });));
            }
            "timeouts" => {
                let f = Fields::new("timeouts", arg, &["start", "finish"])?;
                let start = f.string("start")?;
                let finish = f.string("finish")?;
                statements.push(quote!(options.timeouts = Some(::inngest_module::Timeouts { start: #start, finish: #finish });));
            }
            "singleton" => {
                let f = Fields::new("singleton", arg, &["mode", "key"])?;
                let mode = match f.literal("mode")?.as_deref() {
                    Some("skip") => quote!(::inngest_module::SingletonMode::Skip),
                    Some("cancel") => quote!(::inngest_module::SingletonMode::Cancel),
                    Some(other) => {
                        return Err(syn::Error::new(
                            arg.span,
                            format!("singleton mode `{other}`: use \"skip\" or \"cancel\""),
                        ));
                    }
                    None => {
                        return Err(syn::Error::new(
                            arg.span,
                            "`singleton` needs `mode = \"skip\"` or `mode = \"cancel\"`",
                        ));
                    }
                };
                let key = f.string("key")?;
                statements.push(quote!(options.singleton = Some(::inngest_module::Singleton { key: #key, mode: #mode });));
            }
            "cancel_on" => {
                let f = Fields::new("cancel_on", arg, &["event", "if", "timeout"])?;
                let event = f.required("event", arg.span, event_name)?;
                let cond = f.string("if")?;
                let timeout = f.string("timeout")?;
                statements.push(quote!(options.cancel.push(::inngest_module::Cancel { event: ::std::string::String::from(#event), timeout: #timeout, condition: #cond });));
            }
            other => {
                let arguments: Vec<&str> = TRIGGERS_AND_NAMES
                    .iter()
                    .chain(&MODIFIERS)
                    .copied()
                    .collect();
                return Err(syn::Error::new(
                    arg.span,
                    format!(
                        "unknown argument `{other}`{}; use {}",
                        suggestion(other, &arguments),
                        arguments.join(", ")
                    ),
                ));
            }
        }
    }
    if events.is_empty()
        && let Shorthand::Event = shorthand
    {
        events.push(event_of_payload(&method)?);
    }
    if condition.is_some() && events.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "`if` filters event triggers: add `event = \"...\"`",
        ));
    }
    let triggers: Vec<TokenStream2> = events
        .iter()
        .map(|event| match &condition {
            Some(cond) => quote!(options = options.event_if(#event, #cond);),
            None => quote!(options = options.event(#event);),
        })
        .collect();

    let contribution = format_ident!("__contribution_{}", ident);
    let build = format_ident!("__inngest_function_{}", ident);
    let handlers = [
        (on_failure, quote!(on_failure)),
        (on_cancel, quote!(on_cancel)),
    ]
    .into_iter()
    .filter_map(|(method, register)| {
        method.map(|method| {
            quote! {
                let handler_this = ::std::sync::Arc::clone(self);
                let function = function.#register(move |ctx| {
                    let this = ::std::sync::Arc::clone(&handler_this);
                    async move { this.#method(ctx).await }
                });
            }
        })
    });
    Ok(quote! {
        #method

        /// Builds the function from the provider (values read from `self` are read here,
        /// once, at start-up).
        #[doc(hidden)]
        fn #build(self: &::std::sync::Arc<Self>) -> ::inngest_module::Function {
            #[allow(unused_mut)]
            let mut options = ::inngest_module::FunctionOptions::new(#id);
            #(#triggers)*
            #(#statements)*
            let handler_this = ::std::sync::Arc::clone(self);
            let function = ::inngest_module::Function::new(options, move |ctx| {
                let this = ::std::sync::Arc::clone(&handler_this);
                async move { this.#ident(ctx).await }
            });
            #(#handlers)*
            #(let function = function.middleware(::std::sync::Arc::clone(&(#middleware)));)*
            function
        }

        #[doc(hidden)]
        pub fn #contribution() -> ::inngest_module::__private::Contribution<Self> {
            ::inngest_module::__private::Contribution::new::<::inngest_module::Functions, _>(
                |this: &::std::sync::Arc<Self>| Self::#build(this),
            )
        }
    })
}

/// The method an `on_failure` / `on_cancel` argument names.
fn handler_method(arg: &Arg, what: &str) -> syn::Result<Ident> {
    match &arg.value {
        Value::Lit(Lit::Str(s)) => syn::parse_str::<Ident>(&s.value())
            .map(|ident| Ident::new(&ident.to_string(), s.span()))
            .map_err(|_| {
                syn::Error::new(
                    s.span(),
                    format!("`{what}` names a method of this impl, e.g. {what} = \"order_failed\""),
                )
            }),
        _ => Err(syn::Error::new(
            arg.span,
            format!("expected `{what} = \"method_name\"`"),
        )),
    }
}

/// The middleware a `middleware(...)` argument lists: expressions on `self`, each an
/// `Arc` of a provider that implements `FunctionMiddleware`.
fn middleware_exprs(arg: &Arg) -> syn::Result<Vec<TokenStream2>> {
    let hint = "`middleware` lists providers injected into this one, e.g. #[middleware(self.audit, self.auth)], each an `Arc<T>` where T implements FunctionMiddleware";
    let values: Vec<&Value> = match &arg.value {
        Value::List(args) if args.iter().all(|a| a.key.is_none()) => {
            args.iter().map(|a| &a.value).collect()
        }
        value @ Value::Expr(_) => vec![value],
        _ => return Err(syn::Error::new(arg.span, hint)),
    };
    values
        .into_iter()
        .map(|value| match value {
            Value::Expr(expr) => Ok(quote!(#expr)),
            _ => Err(syn::Error::new(arg.span, hint)),
        })
        .collect()
}

/// The event name of the payload type in `ctx: Ctx<Payload>`, for `#[on_event]` without a
/// name.
fn event_of_payload(method: &ImplItemFn) -> syn::Result<TokenStream2> {
    let missing = || {
        syn::Error::new(
            method.sig.span(),
            "#[on_event] without an event needs a typed context, `ctx: Ctx<Payload>` where Payload derives EventPayload; or name the event: #[on_event(\"order.created\")]",
        )
    };
    let Some(syn::FnArg::Typed(ctx)) = method.sig.inputs.iter().nth(1) else {
        return Err(missing());
    };
    let syn::Type::Path(path) = &*ctx.ty else {
        return Err(missing());
    };
    let Some(last) = path.path.segments.last() else {
        return Err(missing());
    };
    let syn::PathArguments::AngleBracketed(generics) = &last.arguments else {
        return Err(missing());
    };
    match generics.args.first() {
        Some(syn::GenericArgument::Type(payload)) => {
            Ok(quote!(<#payload as ::inngest_module::EventPayload>::NAME))
        }
        _ => Err(missing()),
    }
}

/// `checkpointing = false|true`, `checkpointing = self.config.checkpointing` (a
/// `Checkpointing`), or `checkpointing(max_runtime = "30s", buffered_steps = 5, max_interval = "1s")`.
fn checkpointing_value(arg: &Arg) -> syn::Result<TokenStream2> {
    let base = quote!(::inngest_module::Checkpointing::default());
    match &arg.value {
        Value::Lit(Lit::Bool(on)) if on.value => Ok(base),
        Value::Lit(Lit::Bool(_)) => Ok(quote!(::inngest_module::Checkpointing::off())),
        Value::Expr(expr) => Ok(quote!((#expr))),
        Value::List(_) => {
            let f = Fields::new(
                "checkpointing",
                arg,
                &["max_runtime", "buffered_steps", "max_interval"],
            )?;
            let mut value = base;
            if let Some(arg) = f.get("max_runtime") {
                let d = duration(arg)?;
                value = quote!(#value.max_runtime(#d));
            }
            if let Some(arg) = f.get("buffered_steps") {
                let n = int(arg)?;
                value = quote!(#value.buffered_steps(#n));
            }
            if let Some(arg) = f.get("max_interval") {
                let d = duration(arg)?;
                value = quote!(#value.max_interval(#d));
            }
            Ok(value)
        }
        _ => Err(syn::Error::new(
            arg.span,
            "expected `checkpointing = false`, `checkpointing(max_runtime = \"30s\", buffered_steps = 5, max_interval = \"1s\")` or a `Checkpointing` read from the provider",
        )),
    }
}

/// A duration: a literal checked here (`"10s"`, `"500ms"`, `"1m"`), or a
/// `std::time::Duration` read from the provider.
fn duration(arg: &Arg) -> syn::Result<TokenStream2> {
    match &arg.value {
        Value::Lit(Lit::Str(text)) => {
            let parsed = duration_ms(&text.value()).ok_or_else(|| {
                syn::Error::new(
                    arg.span,
                    format!(
                        "`{}` is not a duration: write a number and a unit, e.g. \"500ms\", \"10s\", \"1m\"",
                        text.value()
                    ),
                )
            })?;
            Ok(quote!(::std::time::Duration::from_millis(#parsed)))
        }
        Value::Expr(expr) => Ok(quote!((#expr))),
        _ => Err(syn::Error::new(
            arg.span,
            "expected a duration such as \"10s\", or a `Duration` read from the provider",
        )),
    }
}

/// Milliseconds of `<number><ms|s|m|h>` (what checkpointing durations need).
fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

fn concurrency_statement(arg: &Arg) -> syn::Result<TokenStream2> {
    if let Value::Lit(_) | Value::Expr(_) = arg.value {
        let limit = int(arg)?;
        return Ok(quote!(options = options.concurrency(#limit);));
    }
    let f = Fields::new("concurrency", arg, &["limit", "key", "scope"])?;
    let limit = f.required_int("limit", arg.span)?;
    let key = f.string("key")?;
    let scope = match f.literal("scope")?.as_deref() {
        None => quote!(None),
        Some("fn") => quote!(Some(::inngest_module::ConcurrencyScope::Fn)),
        Some("env") => quote!(Some(::inngest_module::ConcurrencyScope::Env)),
        Some("account") => quote!(Some(::inngest_module::ConcurrencyScope::Account)),
        Some(other) => {
            return Err(syn::Error::new(
                arg.span,
                format!("concurrency scope `{other}`: use \"fn\", \"env\" or \"account\""),
            ));
        }
    };
    Ok(
        quote!(options.concurrency.push(::inngest_module::Concurrency { limit: #limit, key: #key, scope: #scope });),
    )
}

/// Ties a payload type to its event name: `#[derive(EventPayload)]` with
/// `#[event(name = "order.created")]` implements `inngest_module::EventPayload`, so the type
/// stands for the name in triggers, sends and waits.
///
/// ```ignore
/// #[derive(Serialize, Deserialize, EventPayload)]
/// #[event(name = "order.created")]
/// struct OrderCreated { order_id: String }
/// ```
#[proc_macro_derive(EventPayload, attributes(event))]
pub fn derive_event_payload(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    event_payload(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn event_payload(input: &syn::DeriveInput) -> syn::Result<TokenStream2> {
    let usage = "add #[event(name = \"order.created\")]";
    let mut name: Option<syn::LitStr> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(format!("unknown `event` argument; {usage}")))
            }
        })?;
    }
    let Some(name) = name else {
        return Err(syn::Error::new(
            input.ident.span(),
            format!("#[derive(EventPayload)] needs the event's name: {usage}"),
        ));
    };
    let value = name.value();
    if value.trim().is_empty() || value.len() > 512 {
        return Err(syn::Error::new(
            name.span(),
            "an event name is 1–512 characters, e.g. \"order.created\"",
        ));
    }
    if value.contains('*') {
        return Err(syn::Error::new(
            name.span(),
            "a payload type names one event; a wildcard (`*`) trigger is written as a string: #[on_event(\"order/*\")]",
        ));
    }
    let ident = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::inngest_module::EventPayload for #ident #type_generics #where_clause {
            const NAME: &'static str = #name;
        }
    })
}
