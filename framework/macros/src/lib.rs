//! Procedural macros for `framework`.
//!
//! - `#[injectable]` on an impl block turns its constructor into a provider, its lifecycle
//!   methods into hooks, and its contribution methods into discovery items.
//! - `#[contribute(Kind)]` on a method of an `#[injectable]` impl contributes what the
//!   method returns as an item of `Kind`.
//!
//! # The contribution protocol
//! A *contribution attribute* on a method of an `#[injectable]` impl generates, next to the
//! method, `fn __contribution_<method>() -> framework::Contribution<Self>`, which
//! `#[injectable]` attaches to the provider. The contribution attributes are named
//! explicitly ([`CONTRIBUTIONS`]: `#[contribute]`, and the Inngest module's `function`,
//! `on_event` and `on_cron`); every other attribute passes through untouched.
//!
//! `#[injectable]` marks each contribution attribute it saw by adding
//! `#[framework::__private::in_injectable]` right below it. A contribution macro that does
//! not find the mark knows it is outside an `#[injectable]` impl, where nothing would ever
//! discover it, and says so at compile time instead.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, Path, ReturnType, Type};

/// Lifecycle method names and their phase.
const HOOKS: [(&str, &str); 6] = [
    ("on_module_init", "ModuleInit"),
    ("on_application_bootstrap", "ApplicationBootstrap"),
    ("on_application_listening", "ApplicationListening"),
    ("before_application_shutdown", "BeforeApplicationShutdown"),
    ("on_module_destroy", "ModuleDestroy"),
    ("on_application_shutdown", "ApplicationShutdown"),
];

/// The contribution attributes, by the last segment of their path.
const CONTRIBUTIONS: [&str; 4] = ["contribute", "function", "on_event", "on_cron"];

/// The mark `#[injectable]` puts below each contribution attribute.
const MARK: &str = "in_injectable";

/// Makes a type injectable from its impl block.
///
/// - The constructor (`new`, or the method named with `constructor = "..."`) receives its
///   dependencies as arguments (`Arc<T>`, `Option<Arc<T>>`, `Config<T>`, `Named<T, Q>`). It
///   may be `async`, and may return `Self` or `Result<Self, E>`.
/// - Methods named `on_module_init`, `on_application_bootstrap`, `on_application_listening`,
///   `before_application_shutdown`, `on_module_destroy` and `on_application_shutdown`
///   (taking `&self`, sync or async, returning `()` or `Result<(), E>`) become hooks.
/// - `scope = "transient"` or `scope = "request"` sets the scope.
///
/// ```ignore
/// #[injectable]
/// impl OrderService {
///     fn new(repo: Arc<OrderRepo>, settings: Config<OrderSettings>) -> Self { ... }
///     async fn on_module_init(&self) -> Result<(), std::io::Error> { ... }
/// }
/// ```
#[proc_macro_attribute]
pub fn injectable(args: TokenStream, input: TokenStream) -> TokenStream {
    match expand_injectable(args.into(), input.into()) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// The arguments of `#[injectable(...)]`, parsed by `darling`.
#[derive(Default, darling::FromMeta)]
#[darling(default)]
struct InjectableArgs {
    /// The constructor's name (default `new`).
    constructor: Option<String>,
    /// The provider's scope (default singleton).
    scope: Option<ScopeArg>,
}

/// `scope = "singleton" | "transient" | "request"`.
#[derive(Clone, Copy, darling::FromMeta)]
#[darling(rename_all = "snake_case")]
enum ScopeArg {
    Singleton,
    Transient,
    Request,
}

impl ScopeArg {
    fn tokens(self) -> TokenStream2 {
        match self {
            ScopeArg::Singleton => quote!(::framework::Scope::Singleton),
            ScopeArg::Transient => quote!(::framework::Scope::Transient),
            ScopeArg::Request => quote!(::framework::Scope::Request),
        }
    }
}

/// The arguments, or the compile errors that say what is wrong with them.
fn injectable_args(args: TokenStream2) -> Result<InjectableArgs, TokenStream2> {
    let metas = darling::ast::NestedMeta::parse_meta_list(args)
        .map_err(|error| darling::Error::from(error).write_errors())?;
    <InjectableArgs as darling::FromMeta>::from_list(&metas).map_err(darling::Error::write_errors)
}

fn expand_injectable(args: TokenStream2, input: TokenStream2) -> syn::Result<TokenStream2> {
    // A mistake in the arguments is reported, and the impl still expands with the defaults,
    // so the mistake is the only error (no "Injectable is not implemented" after it).
    let (args, arg_errors) = match injectable_args(args) {
        Ok(args) => (args, None),
        Err(errors) => (InjectableArgs::default(), Some(errors)),
    };
    let item: ItemImpl = syn::parse2(input)?;
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "#[injectable] goes on the type's own impl block (`impl MyService { fn new(..) -> Self }`), not on a trait impl",
        ));
    }
    let constructor_name = args.constructor.unwrap_or_else(|| "new".to_string());
    let scope = args.scope.map(ScopeArg::tokens);

    let self_ty = &item.self_ty;
    let methods: Vec<&ImplItemFn> = item
        .items
        .iter()
        .filter_map(|i| match i {
            ImplItem::Fn(f) => Some(f),
            _ => None,
        })
        .collect();
    let constructor = methods
        .iter()
        .find(|m| m.sig.ident == constructor_name)
        .ok_or_else(|| {
            syn::Error::new(
                item.self_ty.span(),
                format!(
                    "#[injectable] needs a constructor: add `fn {constructor_name}(dep: Arc<Dep>, ..) -> Self` to this impl block, \
                     or name another one with #[injectable(constructor = \"...\")]"
                ),
            )
        })?;
    let provider = constructor_provider(constructor)?;

    let mut chain = TokenStream2::new();
    if let Some(scope) = scope {
        chain.extend(quote!(.scope(#scope)));
    }
    for method in &methods {
        let name = method.sig.ident.to_string();
        if let Some(hook) = near_miss_hook(&name) {
            return Err(syn::Error::new(
                method.sig.ident.span(),
                format!(
                    "`{name}` is not a lifecycle hook: did you mean `{hook}`? (#[injectable] finds hooks by their exact name)"
                ),
            ));
        }
        if let Some((_, phase)) = HOOKS.iter().find(|(n, _)| *n == name) {
            let phase = format_ident!("{}", phase);
            let ident = &method.sig.ident;
            let call = if method.sig.asyncness.is_some() {
                quote!(this.#ident().await)
            } else {
                quote!(this.#ident())
            };
            chain.extend(quote! {
                .hook(::framework::Phase::#phase, |this: ::std::sync::Arc<Self>| async move { #call })
            });
        }
        if method.attrs.iter().any(is_contribution) {
            let fn_name = format_ident!("__contribution_{}", method.sig.ident);
            chain.extend(quote!(.with_contribution(Self::#fn_name())));
        }
    }

    let self_ty = self_ty.clone();
    let item = mark_contributions(item);
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    Ok(quote! {
        #arg_errors
        #item

        impl #impl_generics ::framework::Injectable for #self_ty #where_clause {
            fn provider() -> ::framework::Provider<Self> {
                #provider #chain
            }
        }
    })
}

fn is_contribution(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| CONTRIBUTIONS.contains(&s.ident.to_string().as_str()))
}

/// Whether `attr` is the mark `#[injectable]` leaves below contribution attributes.
fn is_mark(attr: &Attribute) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == MARK)
}

/// Puts the mark below every contribution attribute of the impl's methods.
fn mark_contributions(mut item: ItemImpl) -> ItemImpl {
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let mut attrs = Vec::with_capacity(method.attrs.len() + 1);
        for attr in std::mem::take(&mut method.attrs) {
            let contribution = is_contribution(&attr);
            attrs.push(attr);
            if contribution {
                attrs.push(syn::parse_quote!(#[::framework::__private::in_injectable]));
            }
        }
        method.attrs = attrs;
    }
    item
}

/// The hook `name` is one typo away from (an edit, or two letters swapped), if any.
fn near_miss_hook(name: &str) -> Option<&'static str> {
    HOOKS
        .iter()
        .map(|(hook, _)| *hook)
        .find(|hook| *hook != name && strsim::osa_distance(hook, name) == 1)
}

fn constructor_provider(constructor: &ImplItemFn) -> syn::Result<TokenStream2> {
    let mut idents = Vec::new();
    let mut types = Vec::new();
    for (i, input) in constructor.sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(
                    r.span(),
                    "the constructor must not take `self`: its arguments are its dependencies",
                ));
            }
            FnArg::Typed(pat) => {
                idents.push(format_ident!("__dep{}", i));
                types.push((*pat.ty).clone());
            }
        }
    }
    let ident = &constructor.sig.ident;
    let returns_result = match &constructor.sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                constructor.sig.span(),
                "the constructor must return `Self` or `Result<Self, E>`",
            ));
        }
        ReturnType::Type(_, ty) => is_result(ty),
    };
    let call = quote!(Self::#ident(#(#idents),*));
    let pattern = quote!((#(#idents,)*): (#(#types,)*));
    Ok(
        match (constructor.sig.asyncness.is_some(), returns_result) {
            (false, false) => quote!(::framework::Provider::factory(|#pattern| #call)),
            (false, true) => quote!(::framework::Provider::try_factory(|#pattern| #call)),
            (true, true) => quote!(::framework::Provider::async_factory(|#pattern| #call)),
            (true, false) => quote!(::framework::Provider::async_factory(|#pattern| async move {
                ::std::result::Result::<Self, ::std::convert::Infallible>::Ok(#call.await)
            })),
        },
    )
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        _ => false,
    }
}

/// Contributes the method's return value as an item of the given kind, for discovery.
/// Use it inside an `#[injectable]` impl; the method takes `&self`.
///
/// ```ignore
/// #[injectable]
/// impl Database {
///     fn new() -> Self { Database }
///     #[contribute(HealthChecks)]
///     fn health_check(&self) -> HealthCheck { HealthCheck::new("db") }
/// }
/// ```
#[proc_macro_attribute]
pub fn contribute(args: TokenStream, input: TokenStream) -> TokenStream {
    let input = TokenStream2::from(input);
    match expand_contribute(args.into(), input.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => contribution_fallback(error, input).into(),
    }
}

/// The mark `#[injectable]` leaves below contribution attributes; a no-op if left over.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn in_injectable(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}

/// After an error: the error, the method unchanged (without the mark) and a placeholder
/// `__contribution_<method>`, so the error is the only one the compiler reports.
fn contribution_fallback(error: syn::Error, input: TokenStream2) -> TokenStream2 {
    let error = error.to_compile_error();
    let Ok(mut method) = syn::parse2::<ImplItemFn>(input.clone()) else {
        return quote!(#error #input);
    };
    method.attrs.retain(|attr| !is_mark(attr));
    let fn_name = format_ident!("__contribution_{}", method.sig.ident);
    quote! {
        #error
        #method
        #[doc(hidden)]
        pub fn #fn_name() -> ::framework::Contribution<Self> {
            ::core::unreachable!("this contribution did not compile")
        }
    }
}

fn expand_contribute(args: TokenStream2, input: TokenStream2) -> syn::Result<TokenStream2> {
    let kind: Path = syn::parse2(args).map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected the contribution kind: #[contribute(MyKind)]",
        )
    })?;
    let mut method: ImplItemFn = syn::parse2(input)?;
    let marked = method.attrs.iter().any(is_mark);
    method.attrs.retain(|attr| !is_mark(attr));
    if !marked {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[contribute] only works on a method of an `#[injectable]` impl: add #[injectable] above the `impl` block (without it nothing discovers the contribution)",
        ));
    }
    if method.sig.receiver().is_none() {
        return Err(syn::Error::new(
            method.sig.span(),
            "#[contribute] goes on a method that takes `&self`",
        ));
    }
    let ident = &method.sig.ident;
    let fn_name = format_ident!("__contribution_{}", ident);
    let span = Span::call_site();
    let kind_tokens = kind.to_token_stream();
    Ok(quote::quote_spanned! {span=>
        #method

        #[doc(hidden)]
        pub fn #fn_name() -> ::framework::Contribution<Self> {
            ::framework::Contribution::new::<#kind_tokens, _>(
                |this: &::std::sync::Arc<Self>| ::std::sync::Arc::clone(this).#ident()
            )
        }
    })
}
