#pragma once
// A mutex that clang's thread-safety analysis knows (core/thread_annotations.h): libstdc++'s
// std::mutex carries no capability attributes, so members GUARDED_BY a std::mutex could not be
// checked. Behaviour is std::mutex's.
//
//   Mutex mu_;
//   int count_ GUARDED_BY(mu_);
//   void Add() { MutexLock lock(mu_); ++count_; }
//
// To wait, a std::condition_variable_any waits on the MutexLock itself (it is Lockable), so the
// analysis sees the lock held across the wait, as it is when the wait returns:
//
//   MutexLock lock(mu_);
//   while (count_ == 0) cv_.wait(lock);
//
// Both are used by any thread; a MutexLock belongs to the thread that made it.

#include <mutex>

#include "core/thread_annotations.h"

namespace naut {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Lockable, so std::unique_lock and std::condition_variable_any accept it too.
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` from construction to destruction, unless unlock() let go of it first.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (locked_) {
      mu_.unlock();
    }
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // BasicLockable, for std::condition_variable_any::wait and for code that lets go early.
  void lock() ACQUIRE() {
    mu_.lock();
    locked_ = true;
  }
  void unlock() RELEASE() {
    mu_.unlock();
    locked_ = false;
  }

 private:
  Mutex& mu_;
  bool locked_ = true;
};

}  // namespace naut
