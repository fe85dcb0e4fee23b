"use client";

// A form's values, its submit and the API's answer to bad input: a 422's `detail` (FastAPI's
// `[{loc, msg}]` or a "field: message" string, docs/api.md) lands next to its field, the rest
// in `general`.

import { useCallback, useState, type Dispatch, type FormEvent, type SetStateAction } from "react";
import { ApiError, errorMessage } from "@/lib/api";
import { splitDetail, type FieldErrors, type SplitErrors } from "@/lib/form-errors";

export type SubmitOptions<V> = {
  /** Checked before anything is sent: field messages, or null to go on. */
  validate?: (values: V) => FieldErrors | null;
  /** Rewords the API's field messages (a pattern the reader cannot read, say). */
  explain?: (fields: FieldErrors) => FieldErrors;
  /** How a 422's `detail` lands on the fields (default: splitDetail over the form's fields). */
  split?: (detail: unknown) => SplitErrors;
  /** Statuses read as bad input like a 422 (a 400, say). */
  invalid?: readonly number[];
  /** The field a 409 (already taken) is about; else a 409 is a general message. */
  conflictField?: keyof V & string;
  /** After the error is shown (a toast, say). */
  onError?: (error: unknown) => void;
};

export type Form<V> = {
  values: V;
  /** Sets one value and clears that field's error. */
  set: <K extends keyof V>(key: K, value: V[K]) => void;
  setValues: Dispatch<SetStateAction<V>>;
  reset: () => void;
  errors: FieldErrors;
  general: string | null;
  setErrors: Dispatch<SetStateAction<FieldErrors>>;
  /** No field errors and no general message. */
  clearErrors: () => void;
  /** Clears one error (a key that is not a value's: "weekly.mon", say). */
  clearError: (key: string) => void;
  submitting: boolean;
  /** A form's onSubmit: runs `action` with the values; true when it went through. */
  submit: (action: (values: V) => Promise<void>, options?: SubmitOptions<V>) => (event?: FormEvent) => Promise<boolean>;
};

export function useForm<V extends Record<string, unknown>>(initial: V, fields: readonly string[]): Form<V> {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);

  const set = useCallback(<K extends keyof V>(key: K, value: V[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    setErrors((all) => {
      if (!(key in all)) return all;
      const next = { ...all };
      delete next[key as string];
      return next;
    });
  }, []);
  const reset = useCallback(() => setValues(initial), [initial]);
  const clearErrors = useCallback(() => {
    setErrors({});
    setGeneral(null);
  }, []);
  const clearError = useCallback((key: string) => {
    setErrors((all) => {
      if (!(key in all)) return all;
      const next = { ...all };
      delete next[key];
      return next;
    });
  }, []);

  const submit = useCallback(
    (action: (values: V) => Promise<void>, options: SubmitOptions<V> = {}) =>
      async (event?: FormEvent) => {
        event?.preventDefault();
        setErrors({});
        setGeneral(null);
        const invalid = options.validate?.(values);
        if (invalid && Object.keys(invalid).length) {
          setErrors(invalid);
          return false;
        }
        setSubmitting(true);
        try {
          await action(values);
          return true;
        } catch (error) {
          if (error instanceof ApiError && (error.status === 422 || options.invalid?.includes(error.status))) {
            const split = options.split ? options.split(error.detail) : splitDetail(error.detail, fields);
            setErrors(options.explain ? options.explain(split.fields) : split.fields);
            // Nothing on a field and nothing general (no detail): the error's own message.
            setGeneral(split.general ?? (Object.keys(split.fields).length ? null : errorMessage(error)));
          } else if (error instanceof ApiError && error.status === 409 && options.conflictField) {
            setErrors({ [options.conflictField]: errorMessage(error) });
          } else {
            setGeneral(errorMessage(error));
          }
          options.onError?.(error);
          return false;
        } finally {
          setSubmitting(false);
        }
      },
    [values, fields],
  );

  return { values, set, setValues, reset, errors, general, setErrors, clearErrors, clearError, submitting, submit };
}
