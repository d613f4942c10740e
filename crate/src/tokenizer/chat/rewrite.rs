//! The compiled template rewritten so that every operation that can allocate or scan much is
//! checked first (see the module documentation of chat/mod.rs).

use super::budget::*;
use super::*;

/// `old` with checks around the operations that can allocate or scan much (see the module's
/// documentation): an operation that takes `n` values from the stack is preceded by a check filter
/// taking the same `n` values and a `UnpackList(n)` that puts them back (an `UnpackLists(1)` when
/// `n` is only known at run time); a call or a list/map literal is followed by a check of its
/// result; raw text is emitted as a constant through the formatter, which counts it. Jump targets
/// and line numbers are carried over to the new positions. The semantics of every operation are
/// minijinja's own; only the added checks can fail.
pub fn bound_instructions<'s>(old: &Instructions<'s>) -> Result<Instructions<'s>, String> {
    enum Pre {
        None,
        Stack(&'static str, Option<u16>),
    }
    let plan = |ins: &Instruction<'s>| -> (Pre, bool) {
        use Instruction as I;
        let two = |class| Pre::Stack(class, Some(2));
        match ins {
            I::StringConcat => (two("concat"), false),
            I::Add => (two("add"), false),
            I::Mul => (two("mul"), false),
            I::GetItem => (two("getitem"), false),
            I::Eq | I::Ne | I::Lt | I::Lte | I::Gt | I::Gte | I::In | I::CompareAndPreserve(_) => (two("deep"), false),
            I::Slice => (Pre::Stack("slice", Some(4)), false),
            I::PushLoop(_) | I::UnpackList(_) => (Pre::Stack("scan", Some(1)), false),
            // Counts known when compiling; one that does not fit a filter's argument count (u16)
            // gets no check before (only the result's after). `Pre::Stack(_, None)` is only for
            // counts that are on the stack.
            I::UnpackLists(n) => (u16::try_from(*n).map_or(Pre::None, |n| Pre::Stack("scan", Some(n))), false),
            I::ApplyFilter(name, n, _) => (Pre::Stack(call_class("f", name), *n), true),
            I::PerformTest(_, n, _) => (Pre::Stack("deep", *n), true),
            I::CallObject(n) => (Pre::Stack("scan", *n), true),
            I::CallMethod(name, n) => (Pre::Stack(call_class("m", name), *n), true),
            // `loop(...)` restarts a recursive loop and `super()` renders the parent block: both
            // jump rather than return, so they get no check after them.
            I::CallFunction(name, _) if *name == "loop" || *name == "super" => (Pre::None, false),
            I::CallFunction(name, n) => (Pre::Stack(call_class("c", name), *n), true),
            // A map literal compares its keys as it inserts them.
            I::BuildMap(n) => (u16::try_from(2 * n).map_or(Pre::None, |n| Pre::Stack("deep", Some(n))), true),
            I::BuildList(_) | I::BuildKwargs(_) | I::MergeKwargs(_) => (Pre::None, true),
            _ => (Pre::None, false),
        }
    };
    let len = old.len() as u32;
    let mut start = Vec::with_capacity(old.len() + 1);
    let mut pos = 0u32;
    for i in 0..len {
        start.push(pos);
        let ins = old.get(i).ok_or("instruction out of range")?;
        let (pre, post) = plan(ins);
        let extra = match pre {
            Pre::Stack(_, Some(0)) | Pre::None => 0,
            Pre::Stack(..) => 2,
        } + u32::from(post)
            + u32::from(matches!(ins, Instruction::EmitRaw(_)));
        pos += 1 + extra;
    }
    start.push(pos);
    let target = |t: u32| -> Result<u32, String> { start.get(t as usize).copied().ok_or_else(|| format!("jump target {t} out of range")) };
    let mut new = Instructions::new(old.name(), old.source());
    for i in 0..len {
        let line = old.get_line(i).map_or(0, |l| u16::try_from(l).unwrap_or(u16::MAX));
        let ins = old.get(i).ok_or("instruction out of range")?.clone();
        let (pre, post) = plan(&ins);
        if let Pre::Stack(class, n) = pre {
            let (rev, ord) = check_names(class);
            match n {
                Some(0) => {}
                Some(n) => {
                    new.add_with_line(Instruction::ApplyFilter(rev, Some(n), !0), line);
                    new.add_with_line(Instruction::UnpackList(n as usize), line);
                }
                None => {
                    new.add_with_line(Instruction::ApplyFilter(ord, None, !0), line);
                    new.add_with_line(Instruction::UnpackLists(1), line);
                }
            }
        }
        use Instruction as I;
        let ins = match ins {
            I::EmitRaw(s) => {
                new.add_with_line(I::LoadConst(Value::from_safe_string(s.to_string())), line);
                I::Emit
            }
            I::Jump(t) => I::Jump(target(t)?),
            I::JumpIfFalse(t) => I::JumpIfFalse(target(t)?),
            I::JumpIfFalseOrPop(t) => I::JumpIfFalseOrPop(target(t)?),
            I::JumpIfTrueOrPop(t) => I::JumpIfTrueOrPop(target(t)?),
            I::Iterate(t) => I::Iterate(target(t)?),
            I::BuildMacro(name, t, flags) => I::BuildMacro(name, target(t)?, flags),
            other => other,
        };
        new.add_with_line(ins, line);
        if post {
            new.add_with_line(Instruction::ApplyFilter(POST, Some(1), !0), line);
        }
    }
    debug_assert_eq!(new.len() as u32, pos);
    Ok(new)
}
