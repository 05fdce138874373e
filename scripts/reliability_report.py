"""Reliability report: the battery of failure cases, then how peak memory grows with the amount of work.

1. Cases: tests/cli/, whose CLI calls each print their exit code and message, and the key
   reliability tests of the other test files, run by pytest in one subprocess. The table lists each case, its
   outcome (per CLI call: exit code and the first line of the message) and the verdict.
2. Load: peak RSS (wait4's ru_maxrss of the process) of `simsiam-zoo extract` over N and 10 N small images, and of
   `simsiam-zoo train` on Fashion-MNIST for S and 10 S steps; the goal is growth under 10%.

Exits 0 when every case behaves and memory stays under the goal. A strict xfail (a known bug in code this battery
may not change) is listed as such without failing the report; so is a skip (e.g. no mount namespace here).

    .venv/bin/python scripts/reliability_report.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "simsiam_zoo.cli"]
# Reliability cases tested elsewhere, rerun here so that the report covers the whole battery.
ELSEWHERE = [
    "tests/features/test_extract.py::test_resume_after_sigkill_is_byte_identical",
    "tests/features/test_pipeline.py::test_bad_images_are_skipped_or_converted",
    "tests/features/test_store.py::test_load_errors_name_the_file",
    "tests/features/test_store.py::test_other_settings_or_source_are_refused",
    "tests/test_evaluate.py::test_features_of_different_models_classes_or_one_class_are_refused",
    "tests/zoo/test_download.py::test_a_corrupt_download_is_refused_and_deleted",
    "tests/zoo/test_download.py::test_an_interrupted_transfer_resumes_with_a_range_request",
    "tests/zoo/test_download.py::test_offline_loads_come_from_the_cache_and_a_model_not_cached_exits_5",
    "tests/zoo/test_download.py::test_the_cached_folder_is_checked_on_every_load_and_a_zoo_name_is_never_shadowed",
    "tests/zoo/test_download.py::test_a_partial_file_is_resumed_only_with_its_validator",
    "tests/zoo/test_download.py::test_two_downloads_of_one_file_at_once_make_one_transfer",
    "tests/zoo/test_download.py::test_mirror_reports_what_it_pushed_before_a_failure_and_a_dry_run_needs_no_hub",
    "tests/zoo/test_download.py::test_a_download_into_a_full_disk_names_the_file",
    "tests/features/test_store.py::test_a_second_extraction_into_one_folder_waits_for_the_first",
    "tests/test_data.py::test_tar_labels_repeated_keys_and_shards_of_one_name",
    "tests/test_data.py::test_a_hugging_face_label_column_of_strings_names_the_classes",
    "tests/test_data.py::test_a_truncated_tar_shard_is_refused_and_a_sample_is_read_as_webdataset_reads_it",
    "tests/test_data.py::test_a_limit_counts_images_not_the_other_files_listed",
    "tests/test_data.py::test_bytes_that_are_no_image_are_named_the_same_every_time",
    "tests/test_data.py::test_an_image_folder_holding_a_state_json_is_read_as_images",
    "tests/test_data.py::test_parquet_files_in_the_current_folder_are_named_by_it",
    "tests/features/test_extract.py::test_a_rerun_sees_its_own_output_inside_data_and_a_dataset_rewritten_in_place",
    "tests/features/test_extract.py::test_a_web_page_served_as_a_checkpoint_is_named_as_such",
    "tests/test_finetune.py::test_a_checkpoint_of_a_run_on_other_data_is_refused",
    "tests/test_pretrain.py::test_kill_during_training_then_rerun_matches",
    "tests/test_pretrain.py::test_nan_loss_stops_and_keeps_the_last_good_checkpoint",
    "tests/test_pretrain.py::test_a_nan_is_caught_at_the_next_sync_naming_its_step_before_any_checkpoint",
    "tests/test_pretrain.py::test_a_resume_removes_the_temp_files_a_kill_left_and_nothing_else",
    "tests/test_finetune.py::test_a_nan_in_a_finetune_is_caught_before_the_next_checkpoint_naming_its_step",
    "tests/test_pretrain.py::test_training_on_an_image_folder_through_the_cli",
    "tests/test_loader.py::test_a_pickle_that_runs_code_is_refused_and_never_run",
    "tests/test_loader.py::test_broken_folders_give_clear_errors",
    "tests/test_loader.py::test_zoo_name_from_a_local_hub_checks_sha256",
    "tests/test_loader.py::test_export_of_a_bad_checkpoint_writes_nothing",
    "tests/test_convert.py::test_truncated_file",
    "tests/hub/test_publish.py::test_a_hub_id_cannot_climb_out_of_the_local_hub_directory",
    "tests/hub/test_publish.py::test_invalid_folder_is_refused_before_any_upload",
    "tests/zoo/test_download.py::test_a_file_that_cannot_be_converted_is_deleted_with_a_clear_error",
    "tests/zoo/test_download.py::test_a_download_is_deleted_whatever_stops_its_conversion",
    "tests/test_convert.py::test_a_name_of_ones_own_takes_what_the_zoos_entries_of_that_layout_share",
    "tests/test_convert.py::test_a_name_of_ones_own_is_evaluated_at_the_size_timm_builds_its_architecture_for",
    "tests/test_convert.py::test_tensors_that_cannot_be_weights_are_refused_by_name_before_any_converter",
    "tests/test_convert.py::test_integer_weights_are_refused_not_cast",
    "tests/test_recipe.py::test_values_no_run_can_use_are_refused_naming_the_key",
    "tests/test_evaluate.py::test_knn_votes_at_a_small_temperature_do_not_overflow",
    "tests/features/test_store.py::test_a_shard_edited_into_values_no_evaluation_can_use_is_named",
    "tests/test_benchmark.py::test_a_number_of_shots_the_smallest_class_has_not_is_left_out_with_a_warning",
    "tests/test_distributed.py::test_the_python_api_refuses_a_device_this_machine_has_not_before_any_work",
    "tests/test_pretrain.py::test_a_dataset_of_other_items_is_named_before_the_run_claims_its_folder",
    "tests/test_data.py::test_the_eval_transform_names_an_input_it_does_not_take",
    "tests/test_loader.py::test_a_torch_file_of_the_format_before_1_6_is_judged_as_one",
    "tests/zoo/test_download.py::test_a_complete_file_is_kept_only_with_the_record_of_its_transfer",
    "tests/test_loader.py::test_a_file_changed_in_the_hugging_face_cache_is_refused_naming_it",
    "tests/hub/test_publish.py::test_a_private_push_to_a_public_repo_uploads_nothing",
    "tests/zoo/test_download.py::test_mirror_pushes_once_and_plain_timm_loads_the_mirror",
    "tests/test_pretrain.py::test_a_second_train_on_one_run_waits_for_the_first_then_resumes_it",
    "tests/test_finetune.py::test_cli_finetune_and_semi",
    "tests/test_benchmark.py::test_run_benchmark_names_a_string_or_nothing_where_a_list_belongs",
    "tests/test_pretrain.py::test_the_knn_monitor_holds_its_queries_out_of_the_bank",
    "tests/test_pretrain.py::test_a_named_dataset_as_the_data_path_is_read_by_its_name",
    "tests/test_benchmark.py::test_a_suite_name_alone_benchmarks_that_hub_dataset",
    "tests/test_benchmark.py::test_a_killed_run_resumes_to_the_leaderboard_of_an_uninterrupted_one",
    "tests/test_evaluate.py::test_knn_rejects_bad_options",
    "tests/test_losses.py::test_normalized_std_names_a_shape_that_is_no_batch_of_vectors",
    "tests/test_recipe.py::test_bad_recipes_name_the_problem",
    "tests/test_recipe.py::test_a_section_given_whole_to_replace_keeps_its_other_keys",
    "tests/test_pretrain.py::test_a_recipe_made_by_hand_is_checked_before_the_run_claims_its_folder",
    "tests/test_convert.py::test_a_training_checkpoint_of_this_project_is_exported_not_converted",
    "tests/test_losses.py::test_the_loss_names_predictions_and_projections_of_other_shapes",
    "tests/test_evaluate.py::test_linear_probe_rejects_bad_inputs",
    "tests/test_evaluate.py::test_features_that_float32_cannot_hold_or_are_no_tensor_are_named",
    "tests/features/test_pipeline.py::test_embed_dataset_names_what_it_does_not_take",
    "tests/features/test_store.py::test_a_run_that_failed_before_its_first_shard_does_not_block_the_fixed_rerun",
    "tests/test_loader.py::test_an_arch_or_pretrained_the_model_does_not_match_is_named",
    "tests/test_benchmark.py::test_a_model_folder_given_by_two_spellings_is_one_model",
    "tests/test_convert.py::test_a_checkpoint_that_unfolds_without_end_is_refused_and_a_dict_held_twice_is_not",
    "tests/test_convert.py::test_a_vit_without_its_arch_is_told_to_name_it_and_not_exported_for_detectron2",
    "tests/test_pretrain.py::test_a_checkpoint_with_a_field_of_another_type_is_one_line_naming_it",
    "tests/test_pretrain.py::test_a_resume_from_an_edited_checkpoint_or_other_data_is_refused_naming_it",
    "tests/test_pretrain.py::test_a_resume_on_a_fresh_copy_of_its_data_continues",
    "tests/test_pretrain.py::test_a_refused_train_leaves_nothing_in_a_folder_taken_for_an_older_run",
    "tests/test_finetune.py::test_the_library_leaves_the_caller_s_random_generator_as_it_was",
    "tests/test_finetune.py::test_finetune_names_a_class_count_or_labels_it_cannot_train_on",
    "tests/test_data.py::test_any_dataset_train_is_given_has_a_fingerprint",
    "tests/test_distributed.py::test_a_finetune_whose_ranks_hold_other_backbones_is_refused_before_any_step",
    "tests/test_recipe.py::test_a_base_is_found_beside_the_file_that_names_it_never_in_the_current_directory",
    "tests/test_recipe.py::test_a_base_cycle_through_parent_folders_is_one_error_naming_the_files",
    "tests/test_recipe.py::test_an_integer_beyond_float_range_for_a_float_key_is_refused",
    "tests/test_benchmark.py::test_each_network_gets_its_own_random_init_fed_each_of_its_preprocessings",
    "tests/test_benchmark.py::test_the_markdown_leaderboard_keeps_a_row_for_a_name_with_a_pipe_or_a_line_break",
    "tests/test_benchmark.py::test_the_pixels_of_photos_are_at_most_32_px_a_side_and_one_size_for_both_splits",
    "tests/test_benchmark.py::test_bad_input_is_one_line_before_any_work",
    "tests/test_benchmark.py::test_a_malformed_data_entry_is_a_usage_error",
    "tests/zoo/test_download.py::test_a_gzip_encoded_answer_or_a_redirect_loop_is_one_try",
    "tests/zoo/test_download.py::test_a_cache_folder_of_someone_elses_files_is_refused_before_the_download",
    "tests/test_loader.py::test_model_args_of_a_huge_network_are_refused_before_it_is_built",
    "tests/test_pretrain.py::test_every_seed_the_recipe_takes_trains",
    "tests/test_pretrain.py::test_the_global_batch_is_split_over_the_ranks_and_checked_before_the_run_claims_its_folder",
    "tests/test_recipe.py::test_a_value_of_nested_aliases_is_named_in_a_short_line",
    "tests/test_recipe.py::test_yaml_merge_keys_are_read_as_yaml_means_them",
    "tests/test_recipe.py::test_an_unknown_key_in_a_base_is_named_with_the_file_it_is_in",
    "tests/test_convert.py::test_weights_that_share_memory_are_written",
    "tests/test_convert.py::test_one_name_for_two_tensors_is_refused_and_one_tensor_under_both_is_not",
    "tests/test_convert.py::test_convert_state_dict_refuses_by_name_what_is_no_fp32_weight_or_integer_counter",
    "tests/test_convert.py::test_float64_weights_beyond_float32s_range_are_said_to_overflow",
    "tests/features/test_extract.py::test_embeddings_beyond_float16_are_refused_naming_the_dtype",
    "tests/features/test_extract.py::test_an_empty_output_folder_made_inside_the_data_is_no_class",
    "tests/features/test_extract.py::test_a_users_folder_holding_an_index_json_is_refused_and_left_as_it_was",
    "tests/features/test_extract.py::test_a_limit_beyond_any_listing_keeps_every_image",
    "tests/test_data.py::test_a_sparse_tar_member_is_refused_naming_it",
    "tests/test_data.py::test_a_link_in_a_tar_named_as_an_image_is_a_listed_skip",
    "tests/test_data.py::test_a_shard_pattern_of_too_many_names_is_refused_before_they_are_written_out",
    "tests/test_data.py::test_a_list_file_with_a_byte_order_mark_and_crlf_reads_its_first_path",
    "tests/test_data.py::test_tar_and_parquet_sources_are_one_source_from_any_working_directory",
    "tests/test_data.py::test_a_suite_dataset_the_hub_cannot_serve_is_one_line_without_the_hubs_retry_lines",
    "tests/test_finetune.py::test_an_epoch_whose_validation_fails_is_kept_and_validated_on_the_resume",
    "tests/test_evaluate.py::test_knn_of_nearly_collinear_features_matches_sklearn",
    "tests/test_protocols.py::test_transfer_caches_two_names_that_read_alike_once_made_safe_apart",
    "tests/test_protocols.py::test_transfer_caches_the_features_of_each_limit",
    "tests/test_protocols.py::test_a_train_limit_that_leaves_a_test_class_untrained_is_refused_before_training",
    "tests/test_protocols.py::test_a_val_folder_without_one_of_trains_classes_is_scored_with_trains_labels",
    "tests/test_protocols.py::test_semi_supervised_refuses_a_subset_file_that_labels_no_image_of_a_test_class",
    "tests/test_protocols.py::test_digits_datasets",
    "tests/test_pretrain.py::test_a_resume_with_other_decoding_workers_continues_the_same_run",
    "tests/test_pretrain.py::test_weights_gone_nan_with_a_finite_loss_stop_the_run_before_their_checkpoint",
    "tests/test_pretrain.py::test_metrics_seconds_count_the_runs_training_time_over_its_resumes",
    "tests/test_pretrain.py::test_heads_too_large_for_memory_are_the_recipes_error_before_the_run_claims_its_folder",
    "tests/test_pretrain.py::test_a_rerun_rewrites_the_tables_a_kill_left_behind_the_checkpoint",
    "tests/test_pretrain.py::test_files_beside_the_images_or_another_spelling_of_their_path_resume_the_run",
    "tests/test_pretrain.py::test_an_output_that_would_make_a_folder_inside_the_data_is_refused",
    "tests/test_pretrain.py::test_grey_images_train_with_the_augmentation_in_the_workers_or_batched",
    "tests/test_pretrain.py::test_a_skipped_image_is_said_once_a_run_with_loader_workers_and_strict_is_one_line",
    "tests/test_loader.py::test_another_projects_checkpoint_loads_as_its_converted_folder_does",
    "tests/test_benchmark.py::test_offline_a_model_missing_from_the_caches_is_refused_before_any_work",
    "tests/test_benchmark.py::test_a_changed_folder_gets_its_own_features_and_an_undecodable_image_is_left_out_for_every_contender",
    "tests/test_loader.py::test_offline_a_copy_in_the_hugging_face_cache_is_said_unchecked",
    "tests/hub/test_publish.py::test_a_push_removes_the_hub_files_its_folder_lacks",
    "tests/hub/test_publish.py::test_a_card_on_the_hub_that_is_not_utf8_is_named",
    "tests/test_distributed.py::test_ranks_that_differ_in_data_clock_or_folder_stop_together",
    "tests/test_protocols.py::test_transfer_refuses_a_train_class_whose_images_all_failed_to_decode",
    "tests/test_loader.py::test_folders_timm_saves_load_as_backbones_their_classifier_dropped",
    "tests/test_loader.py::test_models_says_a_hub_entry_is_cached_only_where_a_load_finds_its_files",
    "tests/test_demo.py::test_a_users_plan_json_is_not_taken_for_a_demos",
    "tests/test_demo.py::test_a_demo_plan_holding_values_of_other_shapes_chooses_them_again",
    "tests/test_data.py::test_idx_files_of_other_shapes_or_labels_are_named",
    "tests/test_data.py::test_a_warning_of_pils_about_an_image_names_it_on_a_line_of_its_own",
    "tests/features/test_store.py::test_a_finished_extraction_rerun_writes_nothing",
    "tests/test_data.py::test_class_folders_named_in_either_unicode_form_are_one_class",
    "tests/features/test_store.py::test_a_store_of_the_versions_before_resumes",
    "tests/features/test_store.py::test_the_same_weights_in_attention_of_other_heads_are_refused",
    "tests/test_data.py::test_parquet_files_of_other_class_names_or_labels_beyond_them_are_refused",
    "tests/test_data.py::test_a_hugging_face_dataset_saved_with_a_format_or_columns_chosen_reads_whole",
    "tests/test_data.py::test_hugging_face_columns_that_are_not_one_image_and_labels_are_refused",
    "tests/test_data.py::test_named_sources_are_suggested_and_an_empty_split_is_refused",
    "tests/test_data.py::test_a_held_out_split_may_be_named_validation",
    "tests/test_data.py::test_hugging_face_rows_that_refer_to_image_files_are_those_files",
    "tests/test_data.py::test_hugging_face_rows_are_keyed_by_their_file_and_row",
    "tests/test_data.py::test_parquet_files_are_the_same_source_whatever_datasets_cache_holds_them",
    "tests/test_benchmark.py::test_train_test_splits_at_a_comma_outside_braces",
    "tests/zoo/test_lookup.py::test_selection_filters_and_order",
    "tests/test_distributed.py::test_ranks_that_see_other_run_or_output_folders_at_one_path_are_refused",
    "tests/test_distributed.py::test_a_world_size_set_by_hand_without_the_rest_is_one_line",
    "tests/test_distributed.py::test_a_linear_protocol_batch_capped_at_a_small_train_set_is_a_multiple_of_the_ranks",
    "tests/test_distributed.py::test_a_local_stretch_smaller_than_a_ranks_batch_is_refused_naming_the_settings",
]
OUTCOME_WIDTH = 100


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str
    verdict: str  # "pass", "FAIL", "known bug (xfail)", "skipped: ..."

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


def run_cases(workdir: Path) -> tuple[list[Case], str]:
    """Run the battery under pytest; (one Case per test, pytest's summary line)."""
    basetemp, junit = workdir / "pytest", workdir / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--basetemp={basetemp}",
        f"--junitxml={junit}",
        "-o",
        "junit_logging=system-out",
        "tests/cli",
        *ELSEWHERE,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode in (4, 5):  # a listed test that no longer exists (renamed), or none collected
        raise SystemExit(
            f"the battery did not run (pytest exit {done.returncode}): {done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    if not junit.exists():
        raise SystemExit(
            f"pytest wrote no results (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    cases = []
    for test in ET.parse(junit).iter("testcase"):
        # tests.cli.test_zoo -> cli/zoo (the case's label) and tests/cli/test_zoo.py
        module = test.get("classname", "").removeprefix("tests.").replace(".", "/")
        problem = next((child for child in test if child.tag in ("failure", "error", "skipped")), None)
        printed = test.findtext("system-out") or ""
        lines = [line for line in printed.splitlines() if re.match(r"[\w-]+: (exit -?\d+|killed)", line)]
        outcome = "; ".join(lines) or f"asserted in tests/{module}.py ({float(test.get('time', 0)):.1f} s)"
        if problem is None:
            verdict = "pass"
        elif problem.tag == "skipped" and problem.get("type") == "pytest.xfail":
            verdict, outcome = "known bug (xfail)", problem.get("message", "")
        elif problem.tag == "skipped":
            verdict, outcome = "skipped", problem.get("message", "")
        else:
            verdict = "FAIL"
            outcome = "; ".join((problem.get("message") or problem.text or "").strip().splitlines()[:1] + lines)
        # Temp paths say nothing: keep what follows the test's own temp folder.
        outcome = re.sub(re.escape(str(basetemp)) + r"/[^/']+/", ".../", outcome)
        cases.append(
            Case(f"{module.replace('test_', '')}: {test.get('name', '').removeprefix('test_')}", outcome, verdict)
        )
    return cases, summary


def print_cases(cases: list[Case], summary: str) -> None:
    width = max(len(case.name) for case in cases)
    print(f"{'result':17}  {'case':{width}}  outcome (per CLI call: exit code: first line of the message)")
    for case in cases:
        wrapped = textwrap.wrap(case.outcome, OUTCOME_WIDTH) or [""]
        print(f"{case.verdict:17}  {case.name:{width}}  {wrapped[0]}")
        for more in wrapped[1:]:
            print(f"{'':17}  {'':{width}}  {more}")
    print(f"pytest: {summary}")


def peak_rss_mib(command: list[str], *, log: Path, timeout: float) -> float:
    """Run `command`; the peak resident set size of its process (ru_maxrss from wait4), in MiB."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)  # rusage of this child alone, unlike RUSAGE_CHILDREN
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:5])}... exited with {process.returncode}:\n{log.read_text()[-3000:]}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def write_images(folder: Path, count: int) -> list[Path]:
    """Random 32x32 RGB PNGs, 1,000 a sub-folder."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"{i // 1000:03d}" / f"{i:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class Load:
    name: str
    small: float
    large: float
    goal: float

    @property
    def growth(self) -> float:
        return 100 * (self.large - self.small) / self.small

    @property
    def failed(self) -> bool:
        return self.growth >= self.goal


def run_load(workdir: Path, *, images: int, steps: int, goal: float, timeout: float) -> list[Load]:
    model = workdir / "model_run"
    tiny = ["--set", "run.checkpoint_every_steps=1000000"]  # one checkpoint at the end, not one every 3 steps
    peak_rss_mib(
        [*CLI, "train", "tiny_fake", "--output", str(model), "--max-steps", "1", *tiny],
        log=workdir / "model.log",
        timeout=timeout,
    )
    paths = write_images(workdir / "images", 10 * images)
    rss = []
    for count in (images, 10 * images):
        listing = workdir / f"list_{count}.txt"
        listing.write_text("".join(f"{path}\n" for path in paths[:count]))
        rss.append(
            peak_rss_mib(
                [
                    *CLI,
                    "extract",
                    str(model),
                    str(listing),
                    "--out",
                    str(workdir / f"features_{count}"),
                    "--num-workers",
                    "0",
                ],
                log=workdir / f"extract_{count}.log",
                timeout=timeout,
            )
        )
    loads = [Load(f"extract {images:,} vs {10 * images:,} images", *rss, goal)]
    rss = []
    for count in (steps, 10 * steps):
        rss.append(
            peak_rss_mib(
                [
                    *CLI,
                    "train",
                    "tiny_fake",
                    "--output",
                    str(workdir / f"train_{count}"),
                    "--max-steps",
                    str(count),
                    "--set",
                    "data.dataset=fashion_mnist",
                    *tiny,
                ],
                log=workdir / f"train_{count}.log",
                timeout=timeout,
            )
        )
    loads.append(Load(f"train on fashion_mnist, {steps} vs {10 * steps} steps", *rss, goal))
    return loads


def print_load(loads: list[Load]) -> None:
    width = max(len(load.name) for load in loads)
    print(f"{'peak RSS of one simsiam-zoo process':{width}}  {'small':>9}  {'10x':>9}  {'growth':>7}  result")
    for load in loads:
        verdict = "FAIL" if load.failed else "pass"
        print(
            f"{load.name:{width}}  {load.small:7.0f} MiB  {load.large:5.0f} MiB  {load.growth:+6.1f}%  "
            f"{verdict} (goal < {load.goal:g}%)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smaller load runs: 500 vs 5,000 images, 10 vs 100 steps.")
    parser.add_argument("--images", type=int, default=None, help="N of the extraction load (default 2,000).")
    parser.add_argument("--steps", type=int, default=None, help="S of the training load (default 20).")
    parser.add_argument("--goal", type=float, default=10.0, help="Largest acceptable RSS growth, in percent.")
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds per load command.")
    parser.add_argument("--no-load", action="store_true", help="Only the failure cases.")
    args = parser.parse_args()
    images = args.images or (500 if args.quick else 2000)
    steps = args.steps or (10 if args.quick else 20)

    with tempfile.TemporaryDirectory(prefix="reliability_") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        cases, summary = run_cases(workdir)
        print(f"== failure cases ({time.monotonic() - started:.0f} s)")
        print_cases(cases, summary)
        loads = []
        if not args.no_load:
            started = time.monotonic()
            loads = run_load(workdir, images=images, steps=steps, goal=args.goal, timeout=args.timeout)
            print(f"\n== load ({time.monotonic() - started:.0f} s)")
            print_load(loads)
    failed = [case.name for case in cases if case.failed] + [load.name for load in loads if load.failed]
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all cases behave'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
