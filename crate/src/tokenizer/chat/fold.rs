//! The constants minijinja's compiler folds (`Expr::as_const`), sized without building them:
//! minijinja folds them while it compiles, before any check of ours can run.
use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt, UnaryOpKind};
use minijinja::Value;

/// The most bytes one folded constant, and all of them together, may hold.
pub const MAX_CONSTANT: usize = 1 << 20;
pub const MAX_CONSTANTS: usize = 16 << 20;

/// What a constant expression folds to: a number, bool or none (cheap to fold for real), or
/// a string or list of this many bytes or items.
#[derive(Clone, Copy)]
enum C {
    Small,
    Sized(usize),
}

fn sized(n: usize, total: &mut usize) -> Result<Option<C>, String> {
    *total = total.saturating_add(n);
    if n > MAX_CONSTANT || *total > MAX_CONSTANTS {
        return Err(format!("a constant expression folds to more than {MAX_CONSTANT} bytes ({MAX_CONSTANTS} in all)"));
    }
    Ok(Some(C::Sized(n)))
}

fn value(v: &Value) -> C {
    match v.as_str() {
        Some(s) => C::Sized(s.len()),
        None => C::Small,
    }
}

fn stmts(v: &[Stmt<'_>], t: &mut usize) -> Result<(), String> {
    v.iter().try_for_each(|s| stmt(s, t))
}

pub fn stmt(s: &Stmt<'_>, t: &mut usize) -> Result<(), String> {
    match s {
        Stmt::Template(x) => stmts(&x.children, t),
        Stmt::EmitExpr(x) => expr(&x.expr, t).map(drop),
        Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => Ok(()),
        Stmt::ForLoop(x) => {
            expr(&x.target, t)?;
            expr(&x.iter, t)?;
            if let Some(f) = &x.filter_expr {
                expr(f, t)?;
            }
            stmts(&x.body, t)?;
            stmts(&x.else_body, t)
        }
        Stmt::IfCond(x) => {
            expr(&x.expr, t)?;
            stmts(&x.true_body, t)?;
            stmts(&x.false_body, t)
        }
        Stmt::WithBlock(x) => {
            for (a, b) in &x.assignments {
                expr(a, t)?;
                expr(b, t)?;
            }
            stmts(&x.body, t)
        }
        Stmt::Set(x) => {
            expr(&x.target, t)?;
            expr(&x.expr, t).map(drop)
        }
        Stmt::SetBlock(x) => {
            expr(&x.target, t)?;
            if let Some(f) = &x.filter {
                expr(f, t)?;
            }
            stmts(&x.body, t)
        }
        Stmt::AutoEscape(x) => {
            expr(&x.enabled, t)?;
            stmts(&x.body, t)
        }
        Stmt::FilterBlock(x) => {
            expr(&x.filter, t)?;
            stmts(&x.body, t)
        }
        Stmt::Block(x) => stmts(&x.body, t),
        Stmt::Import(x) => {
            expr(&x.expr, t)?;
            expr(&x.name, t).map(drop)
        }
        Stmt::FromImport(x) => {
            expr(&x.expr, t)?;
            for (a, b) in &x.names {
                expr(a, t)?;
                if let Some(b) = b {
                    expr(b, t)?;
                }
            }
            Ok(())
        }
        Stmt::Extends(x) => expr(&x.name, t).map(drop),
        Stmt::Include(x) => expr(&x.name, t).map(drop),
        Stmt::Macro(x) => {
            x.args.iter().chain(&x.defaults).try_for_each(|e| expr(e, t).map(drop))?;
            stmts(&x.body, t)
        }
        Stmt::CallBlock(x) => {
            expr(&x.call.expr, t)?;
            args(&x.call.args, t)?;
            x.macro_decl.args.iter().chain(&x.macro_decl.defaults).try_for_each(|e| expr(e, t).map(drop))?;
            stmts(&x.macro_decl.body, t)
        }
        Stmt::Do(x) => {
            expr(&x.call.expr, t)?;
            args(&x.call.args, t)
        }
    }
}

fn args(v: &[CallArg<'_>], t: &mut usize) -> Result<(), String> {
    for a in v {
        match a {
            CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => {
                expr(e, t)?;
            }
        }
    }
    Ok(())
}

/// Checks `e` and its subexpressions; `Some` when `e` is a constant minijinja will fold.
fn expr(e: &Expr<'_>, t: &mut usize) -> Result<Option<C>, String> {
    Ok(match e {
        Expr::Const(c) => Some(value(&c.value)),
        Expr::Var(_) => None,
        Expr::List(l) => {
            let mut n = l.items.len();
            for i in &l.items {
                if let Some(C::Sized(k)) = expr(i, t)? {
                    n = n.saturating_add(k);
                }
            }
            if l.items.iter().all(|x| matches!(x, Expr::Const(_))) {
                sized(n, t)?
            } else {
                None
            }
        }
        Expr::Map(m) => {
            let mut n = m.keys.len();
            for i in m.keys.iter().chain(&m.values) {
                if let Some(C::Sized(k)) = expr(i, t)? {
                    n = n.saturating_add(k);
                }
            }
            if m.keys.iter().chain(&m.values).all(|x| matches!(x, Expr::Const(_))) {
                sized(n, t)?
            } else {
                None
            }
        }
        Expr::UnaryOp(u) => match (&u.op, expr(&u.expr, t)?) {
            (UnaryOpKind::Not, Some(_)) | (UnaryOpKind::Neg, Some(C::Small)) => Some(C::Small),
            _ => None,
        },
        Expr::BinOp(b) => {
            let (l, r) = (expr(&b.left, t)?, expr(&b.right, t)?);
            let (Some(l), Some(r)) = (l, r) else { return Ok(None) };
            match (b.op, l, r) {
                (_, C::Small, C::Small) => Some(C::Small),
                (BinOpKind::Add | BinOpKind::Concat, l, r) => {
                    let n = |c: C| if let C::Sized(n) = c { n } else { 32 };
                    sized(n(l).saturating_add(n(r)), t)?
                }
                (BinOpKind::Mul, C::Sized(s), C::Small) | (BinOpKind::Mul, C::Small, C::Sized(s)) => {
                    // The factor is numbers only: folding it is cheap.
                    let factor = if matches!(l, C::Small) { b.left.as_const() } else { b.right.as_const() };
                    let k = factor.and_then(|v| v.as_i64()).map_or(0, |k| usize::try_from(k).unwrap_or(0));
                    sized(s.saturating_mul(k), t)?
                }
                (BinOpKind::Eq | BinOpKind::Ne | BinOpKind::Lt | BinOpKind::Lte | BinOpKind::Gt | BinOpKind::Gte, _, _) => Some(C::Small),
                (BinOpKind::ScAnd | BinOpKind::ScOr, l, r) => {
                    Some(if let (C::Sized(a), C::Sized(b)) = (l, r) { C::Sized(a.max(b)) } else { l })
                }
                // Anything else on strings fails to fold.
                _ => None,
            }
        }
        Expr::Compare(c) => {
            let mut all = expr(&c.expr, t)?.is_some();
            for op in &c.ops {
                all &= expr(&op.expr, t)?.is_some();
            }
            all.then_some(C::Small)
        }
        Expr::Slice(x) => {
            expr(&x.expr, t)?;
            for e in [&x.start, &x.stop, &x.step].into_iter().flatten() {
                expr(e, t)?;
            }
            None
        }
        Expr::IfExpr(x) => {
            expr(&x.test_expr, t)?;
            expr(&x.true_expr, t)?;
            if let Some(f) = &x.false_expr {
                expr(f, t)?;
            }
            None
        }
        Expr::Filter(x) => {
            if let Some(e) = &x.expr {
                expr(e, t)?;
            }
            args(&x.args, t)?;
            None
        }
        Expr::Test(x) => {
            expr(&x.expr, t)?;
            args(&x.args, t)?;
            None
        }
        Expr::GetAttr(x) => {
            expr(&x.expr, t)?;
            None
        }
        Expr::GetItem(x) => {
            expr(&x.expr, t)?;
            expr(&x.subscript_expr, t)?;
            None
        }
        Expr::Call(x) => {
            expr(&x.expr, t)?;
            args(&x.args, t)?;
            None
        }
    })
}
