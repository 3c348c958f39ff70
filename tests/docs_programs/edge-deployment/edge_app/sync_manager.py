"""
Store-and-Forward (SAF) Manager

Handles sync between edge device and cloud.
"""

import asyncio
from typing import List
from datetime import datetime


class SyncManager:
    """
    Manages offline transaction queue and cloud sync
    """

    def __init__(self, persistence_provider, cloud_url: str = None):
        self.persistence = persistence_provider
        self.cloud_url = cloud_url
        self.sync_queue = []  # Offline transactions pending sync

    async def queue_for_sync(self, workflow_id: str):
        """
        Add workflow to sync queue
        """
        self.sync_queue.append({
            "workflow_id": workflow_id,
            "queued_at": datetime.utcnow()
        })

        print(f"📤 Queued for sync: {workflow_id}")
        print(f"   Queue size: {len(self.sync_queue)}")

    async def sync_to_cloud(self) -> dict:
        """
        Sync pending transactions to cloud
        """
        if not self.sync_queue:
            print("✓ Sync queue empty")
            return {"synced": 0, "failed": 0}

        print(f"\n🔄 Syncing {len(self.sync_queue)} transaction(s) to cloud...")

        synced_count = 0
        failed_count = 0

        for item in self.sync_queue[:]:  # Copy list to allow removal
            workflow_id = item["workflow_id"]

            try:
                # Load workflow from local storage
                workflow_data = await self.persistence.load_workflow(workflow_id)

                # Simulate cloud API call
                # In production: POST to cloud server
                print(f"   Syncing {workflow_id}...")
                await asyncio.sleep(0.1)  # Simulate network delay

                # Mark as synced
                workflow_data["state"]["synced_to_cloud"] = True
                workflow_data["state"]["sync_timestamp"] = datetime.utcnow().isoformat()
                await self.persistence.save_workflow(workflow_id, workflow_data)

                # Remove from queue
                self.sync_queue.remove(item)
                synced_count += 1

                print(f"   ✓ Synced {workflow_id}")

            except Exception as e:
                print(f"   ✗ Failed to sync {workflow_id}: {e}")
                failed_count += 1

        print(f"\n✓ Sync complete: {synced_count} synced, {failed_count} failed")

        return {
            "synced": synced_count,
            "failed": failed_count,
            "remaining": len(self.sync_queue)
        }

    async def run_sync_daemon(self, interval_seconds: int = 60):
        """
        Run continuous sync daemon
        """
        print(f"\n🔁 Starting sync daemon (interval: {interval_seconds}s)")
        print("   Press Ctrl+C to stop\n")

        while True:
            try:
                await self.sync_to_cloud()
                await asyncio.sleep(interval_seconds)
            except KeyboardInterrupt:
                print("\n\n⏹️  Sync daemon stopped")
                break
            except Exception as e:
                print(f"⚠️  Sync error: {e}")
                await asyncio.sleep(interval_seconds)
