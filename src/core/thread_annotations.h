#pragma once
// Clang's thread-safety analysis (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html): lock
// rules written as attributes that clang checks with -Wthread-safety (clang-tidy in CI), instead
// of comments. Other compilers see nothing.
//
//   Mutex mu_;
//   int count_ GUARDED_BY(mu_);            // read or written only with mu_ held
//   std::FILE* file_ PT_GUARDED_BY(mu_);   // the pointee, not the pointer, needs mu_
//   void Bump() REQUIRES(mu_);             // callers hold mu_
//   void Flush() EXCLUDES(mu_);            // callers must not hold mu_ (it takes it)
//
// ACQUIRE / RELEASE / TRY_ACQUIRE, CAPABILITY and SCOPED_CAPABILITY are for lock types
// (core/mutex.h). NO_THREAD_SAFETY_ANALYSIS turns the check off for one function; it is used
// only with a comment saying why the function is safe without the lock.

#if defined(__clang__)
#define NAUT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define NAUT_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) NAUT_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY NAUT_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) NAUT_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) NAUT_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) NAUT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) NAUT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) NAUT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) NAUT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) NAUT_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS NAUT_THREAD_ANNOTATION(no_thread_safety_analysis)
