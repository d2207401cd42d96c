;; business-hours: weekdays 09:00-17:00 go to the day agent, every other hour to the night
;; agent, in the org's own time zone (the host computes `time.weekday` and `time.hour` from
;; the org's `tz`). Without those keys it makes no decision, so the fallback answers.
;;
;; The agents are the two UUIDs in the data segments below (36 bytes each); put your own
;; agents' ids there. Version -1 means each agent's latest published version.
(module
  (import "switchboard" "get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "switchboard" "select_agent" (func $select_agent (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global (export "abi_version") i32 (i32.const 1))

  ;; Memory map: day agent at 0, night agent at 64, key names at 128 and 144,
  ;; a 16-byte buffer for values at 256.
  (data (i32.const 0) "11111111-1111-4111-8111-111111111111")  ;; day agent
  (data (i32.const 64) "22222222-2222-4222-8222-222222222222") ;; night agent
  (data (i32.const 128) "time.weekday")                        ;; 12 bytes: 0 = Monday .. 6 = Sunday
  (data (i32.const 144) "time.hour")                           ;; 9 bytes: 0..23

  ;; The decimal value (at most 4 digits) of a context key, or -1 if absent or not a number.
  (func $number (param $key i32) (param $key_len i32) (result i32)
    (local $len i32) (local $i i32) (local $digit i32) (local $value i32)
    (local.set $len (call $get (local.get $key) (local.get $key_len) (i32.const 256) (i32.const 16)))
    (if (i32.or (i32.lt_s (local.get $len) (i32.const 1)) (i32.gt_s (local.get $len) (i32.const 4)))
      (then (return (i32.const -1))))
    (loop $digits
      (local.set $digit
        (i32.sub (i32.load8_u (i32.add (i32.const 256) (local.get $i))) (i32.const 48)))
      (if (i32.gt_u (local.get $digit) (i32.const 9))
        (then (return (i32.const -1))))
      (local.set $value (i32.add (i32.mul (local.get $value) (i32.const 10)) (local.get $digit)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (local.get $len))))
    (local.get $value))

  (func (export "route") (result i32)
    (local $weekday i32) (local $hour i32) (local $agent i32)
    (local.set $weekday (call $number (i32.const 128) (i32.const 12)))
    (local.set $hour (call $number (i32.const 144) (i32.const 9)))
    ;; Unsigned compares also refuse -1 (absent or malformed).
    (if (i32.or (i32.gt_u (local.get $weekday) (i32.const 6)) (i32.gt_u (local.get $hour) (i32.const 23)))
      (then (return (i32.const 0))))
    (local.set $agent (i32.const 64))
    (if (i32.and
          (i32.le_u (local.get $weekday) (i32.const 4))
          (i32.and (i32.ge_u (local.get $hour) (i32.const 9)) (i32.lt_u (local.get $hour) (i32.const 17))))
      (then (local.set $agent (i32.const 0))))
    (call $select_agent (local.get $agent) (i32.const 36) (i32.const -1))
    (i32.const 1)))
